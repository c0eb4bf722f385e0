"""The z = 2 plane of a latent model with the draws of each prior over its test codes: where N(0, I) puts mass
the codes leave empty (the "holes" whose decoded draws are the poor samples) and how a prior fitted on the
codes fills the same region (docs/protocols.md, section G)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from latentlab.viz.grid import save_figure

_DPI = 100


def prior_planes(codes: Tensor, labels: Tensor | None, draws: Sequence[tuple[str, Tensor]], path: Path, *,
                 title: str = "") -> Path:
    """One panel per prior: the test codes (N, 2) coloured by label, and that prior's draws (M, 2) over them as
    black dots. Every panel has the same limits, which hold 99 % of the codes and of every prior's draws."""
    points = codes.detach().float().cpu().numpy()
    if points.ndim != 2 or points.shape[1] != 2 or not draws:
        raise ValueError(f"prior_planes expects (N, 2) codes and at least one prior, got {tuple(points.shape)}")
    shown = [(name, z.detach().float().cpu().numpy()) for name, z in draws]
    every = np.concatenate([points, *[z for _, z in shown]])
    lo, hi = np.nanpercentile(every, 0.5, axis=0), np.nanpercentile(every, 99.5, axis=0)
    centre, half = (lo + hi) / 2, 0.55 * float(max(hi - lo))  # square limits, 10 % margin
    y = None if labels is None else labels.detach().cpu().numpy().reshape(-1)
    fig = Figure(figsize=(3.4 * len(shown) + 1.2, 3.8), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    dot = {"s": max(1.0, min(8.0, 3000 / max(1, len(points)))), "alpha": 0.5, "lw": 0}
    for ax, (name, z) in zip(axes, shown):
        if y is None:
            ax.scatter(points[:, 0], points[:, 1], color="C0", **dot)
        else:
            for k, c in enumerate(np.unique(y)):
                mine = points[y == c]
                ax.scatter(mine[:, 0], mine[:, 1], color=f"C{k % 10}", label=str(c), **dot)
        ax.scatter(z[:, 0], z[:, 1], color="black", s=2.0, alpha=0.7, lw=0, label="prior draws")
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(r"$z_1$")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$z_2$")
    if y is not None:
        axes[-1].legend(title="label", markerscale=2.5, loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)
