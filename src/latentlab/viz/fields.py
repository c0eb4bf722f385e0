"""Figures of 2-D distributions and score fields: tensors in, PNG out (never a model).

samples_vs_data   the data beside each model's samples, on the same axes
score_fields      score arrows over a density at several noise levels; a second row for the exact field
trajectories      the sample cloud along the sampler's paths, from its start to the samples
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from torch import Tensor

from latentlab.viz.grid import save_figure

_DPI = 100
_PANEL = 3.3  # inches per panel
_DENSITY_CMAP = colormaps["Blues"].resampled(12)  # 12 bands: reads as contours, and keeps the PNGs small


def _np(t: Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def _panels(rows: int, cols: int, size: float, title: str) -> tuple[Figure, np.ndarray]:
    """A rows × cols grid of square panels sharing both axes (tick labels on the outer ones only).

    A fixed layout, not constrained_layout: laying out tick labels dominated the drawing time.
    """
    top = 0.7 if title else 0.35  # inches above the panels: the suptitle, then the panel titles
    width, height = size * cols + 0.5, size * rows + 0.3 * (rows - 1) + top + 0.3
    fig = Figure(figsize=(width, height), dpi=_DPI)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    fig.subplots_adjust(left=0.4 / width, right=1 - 0.1 / width, bottom=0.3 / height, top=1 - top / height,
                        wspace=0.1, hspace=0.3 / size)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.12 / height, va="top")
    return fig, axes


def _square(ax: Axes, lim: float, title: str = "") -> None:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.locator_params(nbins=5)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=8)


def plot_limit(x: Tensor) -> float:
    """Half-width of a square view holding 99.9 % of x with a margin."""
    return float(np.quantile(np.abs(_np(x)), 0.999)) * 1.15


def samples_vs_data(data: Tensor, samples: dict[str, Tensor], path: Path, *, title: str = "",
                    modes: tuple[Tensor, float] | None = None, lim: float | None = None) -> Path:
    """Panels: the data (N, 2), then each model's samples (M, 2); `modes` = (means (K, 2), radius) draws circles."""
    panels = {"data": data, **samples}
    lim = lim or plot_limit(data)
    fig, axes = _panels(1, len(panels), _PANEL, title)
    axes = axes[0]
    for ax, (name, x) in zip(axes, panels.items()):
        points = _np(x)
        ax.scatter(points[:, 0], points[:, 1], s=max(0.5, min(4.0, 3000 / len(points))), lw=0, alpha=0.6,
                   color="0.3" if name == "data" else "C0")
        if modes is not None:
            for m in _np(modes[0]):
                ax.add_patch(Circle(m, modes[1], fill=False, lw=0.6, color="C3", alpha=0.7))
        _square(ax, lim, f"{name} ({len(points):,})")
    return save_figure(fig, path)


def _arrows(field: np.ndarray, scale: float, cell: float) -> np.ndarray:
    """Arrows (g, g, 2) of length cell·r/(1 + r), r = |s|/scale: direction kept, order kept, giants tamed."""
    norm = np.linalg.norm(field, axis=-1, keepdims=True)
    r = norm / scale
    return field / np.maximum(norm, 1e-12) * (cell * r / (1 + r))


def score_fields(grid: Tensor, levels: list[dict], path: Path, *, title: str = "", lim: float) -> Path:
    """Score arrows over a density, one column per noise level.

    grid: (g, g, 2) arrow positions. Each level: {"sigma": float, "density": (G, G) over [-lim, lim]²
    (row 0 = lowest y), "learned": (g, g, 2), optional "exact": (g, g, 2)}. With "exact" a second row
    shows the exact field. Arrow length is cell·r/(1 + r), r = 2|s| / (the median |s| of the column's
    exact field, else of the learned one): both rows share the scale, so their lengths compare.
    """
    exact = all("exact" in lv for lv in levels)
    rows = ["learned", "exact"] if exact else ["learned"]
    fig, axes = _panels(len(rows), len(levels), 4.2, title)
    xy = _np(grid)
    cell = 2 * lim / max(1, xy.shape[0] - 1) * 0.9
    for j, lv in enumerate(levels):
        reference = _np(lv["exact"] if exact else lv["learned"])
        scale = 0.5 * float(np.median(np.linalg.norm(reference, axis=-1))) + 1e-12
        for i, row in enumerate(rows):
            ax = axes[i, j]
            density = _np(lv["density"])
            ax.imshow(density, origin="lower", extent=(-lim, lim, -lim, lim), cmap=_DENSITY_CMAP,
                      vmin=0, vmax=float(density.max()) or 1.0, interpolation="nearest")
            uv = _arrows(_np(lv[row]), scale, cell)
            ax.quiver(xy[..., 0], xy[..., 1], uv[..., 0], uv[..., 1], angles="xy", scale_units="xy", scale=1,
                      width=0.006, headwidth=3.5, headlength=4, headaxislength=3.5,
                      color="#c0001a" if row == "learned" else "0.1")
            _square(ax, lim, f"{row} score, σ = {lv['sigma']:.3g}")
    return save_figure(fig, path)


def trajectories(paths: dict[str, Tensor], data: Tensor, path: Path, *, title: str = "", lim: float | None = None,
                 snapshots: int = 5, highlight: int = 3) -> Path:
    """One row per model: its sample cloud at `snapshots` evenly spaced steps of the paths (S, n, 2),
    over the data in grey; the first `highlight` paths are drawn over the stretch since the previous
    panel (through at most 24 of its states: single Langevin steps at large σ jump across the plot)."""
    lim = lim or plot_limit(data)
    fig, axes = _panels(len(paths), snapshots, 2.6, title)
    points = _np(data)
    for row, (name, traj) in zip(axes, paths.items()):
        t = _np(traj)  # (S, n, 2)
        steps = np.linspace(0, len(t) - 1, snapshots).round().astype(int)
        for ax, s, start in zip(row, steps, np.concatenate([[0], steps[:-1]])):
            ax.scatter(points[:, 0], points[:, 1], s=1, lw=0, color="0.8")
            ax.scatter(t[s, :, 0], t[s, :, 1], s=2, lw=0, color="C0", alpha=0.7)
            k = min(highlight, t.shape[1])
            states = np.unique(np.linspace(start, s, min(s - start + 1, 24)).round().astype(int))
            for j in range(k):
                ax.plot(t[states, j, 0], t[states, j, 1], lw=0.8, alpha=0.8, color=f"C{j + 1}")
            ax.scatter(t[s, :k, 0], t[s, :k, 1], s=16, c=[f"C{j + 1}" for j in range(k)], edgecolors="k", lw=0.5,
                       zorder=3)
            _square(ax, lim, f"{name}: step {s} of {len(t) - 1}" + (f" (paths from {start})" if s else ""))
    return save_figure(fig, path)


def grid_points(lim: float, g: int) -> Tensor:
    """(g, g, 2) points of a regular grid over [-lim, lim]², row 0 = lowest y."""
    axis = torch.linspace(-lim, lim, g)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x, y], -1)

