"""Figures of the adversarial studies: tensors and arrays in, PNG files out.

Matplotlib through `matplotlib.figure.Figure` only (no pyplot); every function writes one PNG
atomically and returns its path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from latentlab.viz.grid import image_grid, save_figure

_DPI = 100


def discriminator_fits(x: np.ndarray, p_data: np.ndarray, p_g: np.ndarray,
                       panels: Sequence[tuple[str, np.ndarray, np.ndarray, str]], mask: np.ndarray, path: Path) -> Path:
    """One panel per loss: the learned D(x) beside its formula, over the two densities (shaded).

    panels: (title, learned, formula, formula label); mask: where the error is measured.
    """
    fig = Figure(figsize=(4.6 * len(panels), 3.8), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, learned, formula, label) in zip(axes, panels):
        twin = ax.twinx()
        twin.fill_between(x, p_data, color="C0", alpha=0.15, label=r"$p_{data}$")
        twin.fill_between(x, p_g, color="C3", alpha=0.15, label=r"$p_g$")
        twin.set_ylim(0, 1.6 * max(p_data.max(), p_g.max()))
        twin.set_yticks([])
        ax.plot(x, formula, color="k", lw=2.2, label=label)
        ax.plot(x, learned, color="C1", lw=1.4, ls="--", label="learned D")
        lo, hi = x[mask].min(), x[mask].max()
        ax.axvspan(x.min(), lo, color="0.9")
        ax.axvspan(hi, x.max(), color="0.9")
        err = np.abs(learned - formula)[mask].max()
        ax.set_title(f"{title}\nmax |D - D*| = {err:.3f} (unshaded x)", fontsize=10)
        ax.set_xlabel("x")
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize=8, loc="lower center")
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def value_vs_js(shifts: np.ndarray, value: np.ndarray, exact: np.ndarray, path: Path) -> Path:
    """V(D_learned, G) against 2·JS(p_data ‖ p_g) - log 4 over a family of p_g."""
    fig = Figure(figsize=(5.6, 4.0), dpi=_DPI, layout="constrained")
    ax = fig.subplots()
    ax.plot(shifts, exact, "k-", lw=2, label=r"$2\,JS(p_{data}\|p_g) - \log 4$ (quadrature)")
    ax.plot(shifts, value, "o", color="C1", label=r"$V(D_{learned}, G)$ (quadrature)")
    ax.axhline(-math.log(4), color="0.6", ls=":", lw=1)
    ax.axhline(0, color="0.6", ls=":", lw=1)
    ax.set_xlabel(r"mean of $p_g = N(\mu, 1)$")
    ax.set_ylabel("nats")
    ax.set_title(f"minimax value at the learned optimum; max gap {np.abs(value - exact).max():.4f} nats", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def segments(thetas: np.ndarray, curves: dict[str, np.ndarray], grads: dict[str, np.ndarray], path: Path) -> Path:
    """Parallel segments: distances against θ (exact lines, estimates as points), and their θ-gradients."""
    fig = Figure(figsize=(11, 4.0), dpi=_DPI, layout="constrained")
    left, right = fig.subplots(1, 2)
    fine = np.linspace(thetas.min(), thetas.max(), 401)
    left.plot(fine, np.abs(fine), "k-", lw=2, label=r"$W_1 = |\theta|$ (exact)")
    left.plot(fine, np.where(fine == 0, 0, math.log(2)), color="C0", lw=2, label=r"$JS = \log 2$ for $\theta \neq 0$ (exact)")
    for k, (label, values) in enumerate(curves.items()):
        left.plot(thetas, values, "o", color=f"C{k + 1}", label=label)
    left.set_xlabel(r"$\theta$")
    left.set_title(r"$\mu_0 = (0, U[0,1])$ against $\mu_\theta = (\theta, U[0,1])$", fontsize=10)
    for k, (label, values) in enumerate(grads.items()):
        right.plot(thetas, values, "o-", color=f"C{k + 1}", label=label)
    right.axhline(0, color="0.6", lw=1)
    right.set_xlabel(r"$\theta$")
    right.set_title("gradient with respect to θ: only W1's is useful", fontsize=10)
    for ax in (left, right):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def modes_over_training(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], n_modes: dict[str, int],
                        path: Path) -> Path:
    """One panel per dataset: modes covered against generator iterations, one line per objective."""
    fig = Figure(figsize=(5.2 * len(curves), 3.8), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (dataset, lines) in zip(axes, curves.items()):
        for k, (label, (steps, modes)) in enumerate(lines.items()):
            ax.plot(steps, modes, "o-", ms=3, color=f"C{k}", label=label)
        ax.axhline(n_modes[dataset], color="k", ls=":", lw=1)
        ax.set_ylim(0, n_modes[dataset] + 1)
        ax.set_xlabel("generator iteration")
        ax.set_ylabel("modes covered (a sample within 3σ)")
        ax.set_title(dataset, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def scatter_panels(panels: Sequence[tuple[str, Tensor]], means: Tensor, ncols: int, path: Path,
                   lim: float = 2.2) -> Path:
    """2-D samples, one panel each, with the mixture's modes marked (+)."""
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(3.3 * ncols, 3.3 * nrows), dpi=_DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).reshape(-1)
    for ax, (title, x) in zip(axes, panels):
        ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), s=2, alpha=0.4, color="C0", rasterized=True)
        ax.scatter(means[:, 0].numpy(), means[:, 1].numpy(), marker="+", s=40, color="C3", lw=1)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return save_figure(fig, path)


def image_panels(panels: Sequence[tuple[str, Tensor]], path: Path, nrow: int = 10, ncols: int = 3,
                 scale: int = 2) -> Path:
    """Grids of images (N, C, H, W) in [0, 1], one titled panel each, pixel-exact (nearest neighbour)."""
    grids = [image_grid(x, nrow) for _, x in panels]
    h, w = grids[0].shape[:2]
    nrows = math.ceil(len(panels) / ncols)
    cell_w, cell_h = w * scale + 20, h * scale + 36
    fig = Figure(figsize=(ncols * cell_w / _DPI, nrows * cell_h / _DPI), dpi=_DPI)
    for k, ((title, _), grid) in enumerate(zip(panels, grids)):
        r, c = divmod(k, ncols)
        ax = fig.add_axes(((c * cell_w + 10) / (ncols * cell_w), 1 - ((r + 1) * cell_h - 6) / (nrows * cell_h),
                           w * scale / (ncols * cell_w), h * scale / (nrows * cell_h)))
        rgb = grid if grid.ndim == 3 else np.repeat(grid[..., None], 3, axis=-1)
        ax.imshow(rgb, interpolation="nearest", aspect="auto")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[:].set_visible(False)
        ax.set_title(title, fontsize=9, loc="left")
    return save_figure(fig, path)


def class_frequencies(freqs: dict[str, Sequence[float]], path: Path) -> Path:
    """Grouped bars: the share of samples the classifier assigns to each digit, one colour per model."""
    fig = Figure(figsize=(10, 3.8), dpi=_DPI, layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(freqs)
    for k, (label, f) in enumerate(freqs.items()):
        ax.bar(np.arange(10) + (k - (len(freqs) - 1) / 2) * width, f, width, label=label, color=f"C{k % 10}")
    ax.axhline(0.1, color="k", ls=":", lw=1)
    ax.set_xticks(range(10))
    ax.set_xlabel("digit (the classifier's most probable class)")
    ax.set_ylabel("share of samples")
    ax.legend(fontsize=7, ncols=2)
    ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, path)
