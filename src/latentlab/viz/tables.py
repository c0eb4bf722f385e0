"""Figures for tables (N, D): real against generated, per feature and in pairs.

Tensors in, PNG out, through `matplotlib.figure.Figure` only. Values are drawn in the units
given; pass the un-standardised data to see the original units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from latentlab.viz.grid import save_figure

REAL, GENERATED = "#4c72b0", "#dd8452"


def _names(names: Sequence[str] | None, d: int) -> list[str]:
    return list(names) if names else [f"feature {i}" for i in range(d)]


def feature_histograms(real: Tensor, generated: Tensor, path: Path, names: Sequence[str] | None = None,
                       max_features: int = 30) -> Path:
    """One histogram per feature (the first `max_features`): real (test set) against generated samples,
    on shared bins spanning both, as densities."""
    real_np, gen_np = real.detach().cpu().double().numpy(), generated.detach().cpu().double().numpy()
    d = min(real_np.shape[1], max_features)
    names = _names(names, real_np.shape[1])
    cols = min(d, 6)
    rows = math.ceil(d / cols)
    fig = Figure(figsize=(2.3 * cols, 1.9 * rows + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        if i >= d:
            ax.set_axis_off()
            continue
        lo, hi = np.percentile(np.concatenate([real_np[:, i], gen_np[:, i]]), [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, int(np.clip(2 * np.sqrt(len(real_np)), 10, 30)) + 1)
        ax.hist(real_np[:, i], bins=bins, density=True, alpha=0.55, color=REAL, label="real (test)")
        ax.hist(gen_np[:, i], bins=bins, density=True, alpha=0.55, color=GENERATED, label="generated")
        ax.set_title(names[i], fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_yticks([])
    axes[0].legend(fontsize=7)
    fig.suptitle(f"per feature: {len(real_np)} test rows against {len(gen_np)} samples x ~ p(x)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def pair_scatter(real: Tensor, generated: Tensor, path: Path, names: Sequence[str] | None = None,
                 k: int = 4) -> Path:
    """Pairwise scatter plots of the first k features, real below generated on shared axes
    (a k×k grid; the diagonal shows both histograms). At most max(len(real), 300) generated points are drawn."""
    real_np, gen_np = real.detach().cpu().double().numpy(), generated.detach().cpu().double().numpy()
    gen_np = gen_np[: max(len(real_np), 300)]
    k = min(k, real_np.shape[1])
    names = _names(names, real_np.shape[1])
    fig = Figure(figsize=(2.4 * k, 2.4 * k))
    axes = fig.subplots(k, k, squeeze=False)
    for i in range(k):
        for j in range(k):
            ax = axes[i][j]
            if i == j:
                bins = np.histogram_bin_edges(np.concatenate([real_np[:, i], gen_np[:, i]]), bins=20)
                ax.hist(real_np[:, i], bins=bins, density=True, alpha=0.55, color=REAL)
                ax.hist(gen_np[:, i], bins=bins, density=True, alpha=0.55, color=GENERATED)
                ax.set_yticks([])
            else:
                ax.scatter(real_np[:, j], real_np[:, i], s=4, alpha=0.5, color=REAL, label="real (test)")
                ax.scatter(gen_np[:, j], gen_np[:, i], s=4, alpha=0.5, color=GENERATED, label="generated")
            ax.tick_params(labelsize=6)
            if i == k - 1:
                ax.set_xlabel(names[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(names[i], fontsize=8)
    if k > 1:
        axes[0][1].legend(fontsize=7, markerscale=3)
    fig.suptitle(f"the first {k} features in pairs: real against generated", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
