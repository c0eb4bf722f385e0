"""The figures of a run: tensors in, PNG files out.

Each function takes the data and a path, writes the PNG atomically and returns the path.
Image figures are drawn pixel-exact: every image pixel becomes `scale` x `scale` screen
pixels (nearest neighbour, never blurred); `scale=None` picks 1-3 from the grid's width.
Matplotlib is used through `matplotlib.figure.Figure` only: no pyplot, no global state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from latentlab.viz.grid import image_grid, save_figure

_DPI = 100
_PAD = 2  # px between grid cells
_MIN_WIDTH = 420  # px: room for a panel title beside a narrow grid
_TITLE = {"loc": "left", "fontsize": 10}


def sample_grid(
    probs: Tensor, draws: Tensor | None, path: Path, nrow: int = 20, *, scale: int | None = None,
    likelihood: str = "bernoulli",
) -> Path:
    """The decoder's output for z ~ p(z) (top: Bernoulli probabilities, or Gaussian means) and draws
    x ~ p(x|z) from the same z (bottom); `likelihood` ("bernoulli" or "gaussian") names them.

    With draws = None, `probs` are samples of a model without a decoder distribution (a GAN's G(z)).
    """
    n = probs.shape[0]
    grids = [image_grid(probs, nrow, _PAD)]
    gaussian = likelihood == "gaussian"
    top = (rf"$\mathbb{{E}}[x \mid z],\ z \sim p(z)$: decoder means, {n} samples" if gaussian
           else rf"$p(x \mid z),\ z \sim p(z)$: decoder probabilities, {n} samples")
    titles = [top if draws is not None else rf"$x \sim p_\theta(x)$: {n} samples"]
    if draws is not None:
        grids.append(image_grid(draws, nrow, _PAD))
        titles.append(rf"$x \sim p(x \mid z)$: {'Gaussian' if gaussian else 'Bernoulli'} draws from the same $z$")
    fig, axes = _image_figure(grids, _scale(grids[0], scale))
    for ax, title in zip(axes, titles):
        ax.set_title(title, **_TITLE)
    return save_figure(fig, path)


def reconstructions(
    x: Tensor, x_hat: Tensor, path: Path, n_cols: int = 20, *, scale: int | None = None
) -> Path:
    """Originals x in odd rows, their reconstructions x_hat in the row below each."""
    if x.shape != x_hat.shape:
        raise ValueError(f"x {tuple(x.shape)} and x_hat {tuple(x_hat.shape)} differ in shape")
    n_cols = min(n_cols, x.shape[0])
    n_rows = math.ceil(x.shape[0] / n_cols)
    missing = n_rows * n_cols - x.shape[0]  # blank (white) cells end a partial last row
    pairs = [torch.cat([t, t.new_ones(missing, *t.shape[1:])]).reshape(n_rows, n_cols, *t.shape[1:])
             for t in (x, x_hat)]
    interleaved = torch.stack(pairs, dim=1).reshape(-1, *x.shape[1:])  # (2 * rows * cols, C, H, W)
    grid = image_grid(interleaved, n_cols, _PAD)
    fig, (ax,) = _image_figure([grid], _scale(grid, scale), left=34)
    height = x.shape[2]
    ax.set_yticks([_PAD + (height + _PAD) * i + (height - 1) / 2 for i in range(2 * n_rows)])
    ax.set_yticklabels([r"$x$", r"$\hat{x}$"] * n_rows)
    ax.tick_params(left=False)
    ax.set_title(r"reconstructions: originals $x$, decoded means $\hat{x}$ below each", **_TITLE)
    return save_figure(fig, path)


def interpolation(
    rows: Tensor, path: Path, alphas: list[float] | None = None, *, scale: int | None = None
) -> Path:
    """(R, S, C, H, W) decoded paths z = (1 - α) z_a + α z_b, one row per pair (a, b)."""
    if rows.dim() != 5:
        raise ValueError(f"interpolation expects (R, S, C, H, W), got {tuple(rows.shape)}")
    n_pairs, steps, width = rows.shape[0], rows.shape[1], rows.shape[4]
    if alphas is not None and len(alphas) != steps:
        raise ValueError(f"{len(alphas)} alphas for {steps} interpolation steps")
    grid = image_grid(rows.reshape(-1, *rows.shape[2:]), steps, _PAD)
    fig, (ax,) = _image_figure([grid], _scale(grid, scale), bottom=40 if alphas else 10)
    if alphas is not None:
        ax.set_xticks([_PAD + (width + _PAD) * j + (width - 1) / 2 for j in range(steps)])
        ax.set_xticklabels([f"{a:.3g}" for a in alphas], fontsize=8)
        ax.set_xlabel(r"$\alpha$")
    pairs = f"{n_pairs} pair{'s' * (n_pairs > 1)}"
    ax.set_title(f"latent interpolation between {pairs} of codes, one per row", **_TITLE)
    return save_figure(fig, path)


def latent_manifold(
    images: Tensor, path: Path, extent: tuple[float, float], *, scale: int | None = None
) -> Path:
    """(G*G, C, H, W) decoded at a linear G x G grid over [lo, hi]^2; row 0 is the highest z2."""
    g = math.isqrt(images.shape[0])
    if g * g != images.shape[0] or g < 2:
        raise ValueError(f"latent_manifold expects G*G images with G >= 2, got {images.shape[0]}")
    lo, hi = extent
    half = (hi - lo) / (g - 1) / 2  # grid points sit at the cell centres
    grid = image_grid(images, g, pad=0)
    box = (lo - half, hi + half, lo - half, hi + half)
    fig, (ax,) = _image_figure(
        [grid], _scale(grid, scale), left=60, right=20, bottom=50, extent=box
    )
    ax.set_xlabel(r"$z_1$")
    ax.set_ylabel(r"$z_2$")
    ax.set_title(f"decoder means over a {g}×{g} grid of the latent plane", **_TITLE)
    return save_figure(fig, path)


def latent_scatter(z: Tensor, labels: Tensor | None, path: Path, title: str = "") -> Path:
    """(N, 2) latent points, coloured by label (tab10 with a legend; a colorbar past 10 classes)."""
    if z.dim() != 2 or z.shape[1] != 2:
        raise ValueError(f"latent_scatter expects (N, 2) points, got {tuple(z.shape)}")
    points = z.detach().float().cpu().numpy()
    fig = Figure(figsize=(6.4, 5.6), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    dot = {"s": max(1.0, min(12.0, 4000 / max(1, len(points)))), "alpha": 0.6, "lw": 0}
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], **dot)
    else:
        y = labels.detach().cpu().numpy().reshape(-1)
        classes = np.unique(y)
        if len(classes) <= 10:
            for k, c in enumerate(classes):
                mine = points[y == c]
                ax.scatter(mine[:, 0], mine[:, 1], color=f"C{k}", label=str(c), **dot)
            ax.legend(title="label", markerscale=8 / dot["s"] ** 0.5, loc="center left",
                      bbox_to_anchor=(1, 0.5))
        else:
            dots = ax.scatter(points[:, 0], points[:, 1], c=y, cmap="viridis", **dot)
            fig.colorbar(dots, ax=ax, label="label")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(r"$z_1$")
    ax.set_ylabel(r"$z_2$")
    ax.set_title(title or f"{len(points)} latent points")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def loss_curves(records: list[dict], path: Path, keys: list[str] | None = None) -> Path:
    """One panel per phase: every numeric term (or `keys`) against step; faint raw, solid EMA."""
    panels = _panels(records, keys)
    if not panels:
        raise ValueError("loss_curves: no numeric terms to plot in these records")
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(5.2 * ncols, 3.6 * nrows), dpi=_DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).reshape(-1)
    for ax, (phase, series) in zip(axes, panels.items()):
        _draw_panel(ax, phase, series)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("training curves\n(faint: logged values; solid: moving average)", fontsize=10)
    return save_figure(fig, path)


def image_rows(panels: Sequence[tuple[str, Tensor]], row_labels: Sequence[str], path: Path, *,
               scale: int | None = None) -> Path:
    """Panels side by side, each (R, S, C, H, W): R rows of S images; one label per row, on the left.

    The conditional grid (row = label y, column = a shared z) and before/after comparisons.
    """
    n_rows = len(row_labels)
    if not panels or any(t.dim() != 5 or t.shape[0] != n_rows for _, t in panels):
        raise ValueError(f"image_rows expects panels of (R, S, C, H, W) with R = {n_rows} rows")
    grids = [image_grid(t.reshape(-1, *t.shape[2:]), t.shape[1], _PAD) for _, t in panels]
    s = scale if scale is not None else max(1, min(3, 1400 // sum(g.shape[1] for g in grids)))
    left, gap, top, bottom, right = 14 + 7 * max(len(label) for label in row_labels), 16, 30, 10, 10
    sizes = [(g.shape[1] * s, g.shape[0] * s) for g in grids]
    width = max(_MIN_WIDTH, left + sum(w for w, _ in sizes) + gap * (len(grids) - 1) + right)
    height = top + max(h for _, h in sizes) + bottom
    fig, x = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI), left
    image_height = panels[0][1].shape[3]
    for k, ((title, _), grid, (w, h)) in enumerate(zip(panels, grids, sizes)):
        ax = fig.add_axes((x / width, (height - top - h) / height, w / width, h / height))
        ax.imshow(grid if grid.ndim == 3 else np.repeat(grid[..., None], 3, axis=-1),
                  interpolation="nearest", aspect="auto")
        ax.set_xticks([])
        ax.spines[:].set_visible(False)
        ax.set_yticks([_PAD + (image_height + _PAD) * i + (image_height - 1) / 2 for i in range(n_rows)]
                      if k == 0 else [])
        if k == 0:
            ax.set_yticklabels(row_labels, fontsize=9)
            ax.tick_params(left=False)
        ax.set_title(title, **_TITLE)
        x += w + gap
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- helpers


def _panels(records: list[dict], keys: list[str] | None) -> dict[str, dict[str, tuple]]:
    """phase -> term -> (steps, values), phases and terms in order of first appearance."""
    raw: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for r in records:
        phase = str(r.get("phase", "model"))
        for key, value in r.items():
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if key in ("step", "time", "phase") or not numeric or (keys and key not in keys):
                continue
            if math.isfinite(value) and isinstance(r.get("step"), (int, float)):
                raw.setdefault(phase, {}).setdefault(key, []).append((r["step"], value))
    return {p: {k: tuple(np.array(v).T) for k, v in terms.items()} for p, terms in raw.items()}


def _draw_panel(ax: Axes, phase: str, series: dict[str, tuple]) -> None:
    for k, (term, (steps, values)) in enumerate(series.items()):
        marker = "o" if len(values) < 30 else ""
        ax.plot(steps, values, color=f"C{k}", alpha=0.3, lw=0.8, marker=marker, ms=2)
        ax.plot(steps, _ema(values), color=f"C{k}", lw=1.6, label=term)
    everything = np.concatenate([v for _, v in series.values()])
    if everything.min() > 0 and everything.max() / everything.min() > 100:
        ax.set_yscale("log")
    ax.set_title(f"phase: {phase}")
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _ema(values: np.ndarray) -> np.ndarray:
    """Bias-corrected exponential moving average over about 1% of the points (light, little lag)."""
    weight = min(0.995, max(0.0, 1 - 100 / len(values)))
    out, avg = np.empty(len(values)), 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * v
        out[i] = avg / (1 - weight ** (i + 1))
    return out


def _scale(grid: np.ndarray, scale: int | None) -> int:
    return scale if scale is not None else max(1, min(3, 1400 // grid.shape[1]))


def _image_figure(
    grids: Sequence[np.ndarray], scale: int, *, left: int = 10, right: int = 10, top: int = 30,
    bottom: int = 10, gap: int = 34, extent: tuple[float, ...] | None = None,
) -> tuple[Figure, list[Axes]]:
    """The grids stacked, each at exactly `scale` screen pixels per image pixel.

    Without `extent` the axes are bare (no ticks, no frame); with it, the one grid gets
    data coordinates (left, right, bottom, top) and ordinary ticks.
    """
    sizes = [(g.shape[1] * scale, g.shape[0] * scale) for g in grids]
    width = max(_MIN_WIDTH, left + max(w for w, _ in sizes) + right)
    height = top + sum(h for _, h in sizes) + gap * (len(grids) - 1) + bottom
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    axes, y = [], height - top
    for grid, (w, h) in zip(grids, sizes):
        y -= h
        ax = fig.add_axes((left / width, y / height, w / width, h / height))
        rgb = grid if grid.ndim == 3 else np.repeat(grid[..., None], 3, axis=-1)  # exact greys
        ax.imshow(rgb, interpolation="nearest", aspect="auto", extent=extent)
        if extent is None:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
        axes.append(ax)
        y -= gap
    return fig, axes

