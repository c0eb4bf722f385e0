"""The faces figures (docs/protocols.md, section B (a)-(e)): collages side by side, latent scatters after PCA,
an interpolation collage, and walks through image space projected onto its first two principal axes.

Tensors and arrays in, PNG out; nothing here builds or calls a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from torch import Tensor

from latentlab.viz.grid import image_grid, save_figure

_DPI = 100


def collages(panels: Sequence[tuple[str, Tensor]], path: Path, nrow: int = 10, scale: int = 2) -> Path:
    """Image collages side by side, each (N, C, H, W) in [0, 1] laid out `nrow` per row, pixel-exact."""
    grids = [image_grid(x, nrow, pad=1) for _, x in panels]
    gap, top, margin = 24, 44, 12
    widths = [g.shape[1] * scale for g in grids]
    height = max(g.shape[0] for g in grids) * scale
    W, H = sum(widths) + gap * (len(grids) - 1) + 2 * margin, height + top + margin
    fig = Figure(figsize=(W / _DPI, H / _DPI), dpi=_DPI)
    x = margin
    for (title, _), grid, w in zip(panels, grids, widths):
        ax = fig.add_axes((x / W, margin / H, w / W, grid.shape[0] * scale / H))
        ax.imshow(np.repeat(grid[..., None], 3, -1) if grid.ndim == 2 else grid, interpolation="nearest", aspect="auto")
        ax.set_axis_off()
        ax.set_title(title, fontsize=9, loc="left", wrap=True)
        x += w + gap
    return save_figure(fig, path)


def latent_pca_scatter(panels: Sequence[tuple[str, np.ndarray]], path: Path) -> Path:
    """(N, 2) latent codes after PCA, one panel each, with the 1σ and 2σ circles of N(0, I).

    The projection of N(0, I_q) onto any two orthonormal directions is N(0, I_2), so the
    circles are where codes that follow the prior would lie, whatever q is.
    """
    fig = Figure(figsize=(5.2 * len(panels), 5.0), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, z) in zip(axes, panels):
        ax.scatter(z[:, 0], z[:, 1], s=8, alpha=0.6, lw=0, color="C0", label="codes")
        for r, ls in ((1, "-"), (2, "--")):
            ax.add_patch(Circle((0, 0), r, fill=False, color="k", ls=ls, lw=1, label=f"{r}σ of N(0, I)"))
        lim = max(2.5, 1.08 * float(np.abs(z).max()))
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.set_xlabel("latent PC 1")
        ax.set_ylabel("latent PC 2")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    return save_figure(fig, path)


def interpolation_rows(rows: Sequence[tuple[str, Tensor]], path: Path, scale: int = 3) -> Path:
    """One row per model of S decoded points (S, C, H, W) along the same latent segment; columns numbered 1..S."""
    grids = [image_grid(x, x.shape[0], pad=1) for _, x in rows]
    grid = np.concatenate(grids, axis=0)
    w_img, steps = rows[0][1].shape[3], rows[0][1].shape[0]
    left, top, bottom = 16 + 7 * max(len(label) for label, _ in rows), 30, 30
    W, H = grid.shape[1] * scale + left + 10, grid.shape[0] * scale + top + bottom
    fig = Figure(figsize=(W / _DPI, H / _DPI), dpi=_DPI)
    ax = fig.add_axes((left / W, bottom / H, grid.shape[1] * scale / W, grid.shape[0] * scale / H))
    ax.imshow(np.repeat(grid[..., None], 3, -1), interpolation="nearest", aspect="auto")
    ax.set_xticks([1 + (w_img + 1) * j + (w_img - 1) / 2 for j in range(steps)])
    ax.set_xticklabels([str(j + 1) for j in range(steps)], fontsize=8)
    row_h = grids[0].shape[0]
    ax.set_yticks([row_h * i + row_h / 2 for i in range(len(rows))])
    ax.set_yticklabels([label for label, _ in rows], fontsize=9)
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    ax.set_title(f"{steps} equally spaced points on the segment between two z ~ N(0, I), decoded",
                 fontsize=10, loc="left")
    return save_figure(fig, path)


def numbered_walks(backgrounds: Sequence[np.ndarray], walks: Sequence[tuple[str, np.ndarray]], path: Path,
                   axis_labels: tuple[str, str] = ("image PC 1", "image PC 2")) -> Path:
    """Walks (S, 2) through image space projected on its 2-D PCA, points numbered 1..S, over the
    projected training images (one (N, 2) background per walk); the dotted line is the chord from 1 to S.
    Each panel is zoomed on its walk (a square window 1.6 × the walk's extent), so a bend shows."""
    fig = Figure(figsize=(5.4 * len(walks), 5.2), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, len(walks), squeeze=False)[0]
    for ax, background, (title, w) in zip(axes, backgrounds, walks):
        ax.scatter(background[:, 0], background[:, 1], s=6, color="0.75", lw=0, label="training faces")
        ax.plot(w[[0, -1], 0], w[[0, -1], 1], ":", color="k", lw=1, label="chord 1 → last")
        ax.plot(w[:, 0], w[:, 1], "-", color="C3", lw=1.2, alpha=0.8)
        ax.scatter(w[:, 0], w[:, 1], s=14, color="C3", zorder=3, label="decoded walk")
        chord = w[-1] - w[0]
        normal = np.array([-chord[1], chord[0]]) / max(float(np.hypot(*chord)), 1e-12)
        for i, (a, b) in enumerate(w):  # labels alternate sides of the path, so close points stay readable
            dx, dy = normal * (9 if i % 2 == 0 else -9)
            ax.annotate(str(i + 1), (a, b), textcoords="offset points", xytext=(dx, dy), fontsize=7,
                        ha="center", va="center")
        centre, half = (w.max(0) + w.min(0)) / 2, 0.8 * float((w.max(0) - w.min(0)).max()) + 0.05
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_aspect("equal", adjustable="box")
        ax.grid(alpha=0.3)
        ax.set_xlabel(axis_labels[0])
        ax.set_ylabel(axis_labels[1])
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="best")
    return save_figure(fig, path)

