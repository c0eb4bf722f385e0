"""The "feel your ELBO" figure: log p(x) and ELBO curves over θ, the ELBO landscape over (θ, φ) with
the path of gradient ascent, and the true posterior against q at the end of that path.

Arrays in, PNG out; nothing here builds or calls a model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from latentlab.viz.grid import save_figure

_DPI = 100


def elbo_figure(v: dict, path: Path, title: str) -> Path:
    """One variant in three panels. `v` holds numpy arrays:

    theta (T,), log_px (T,), best_elbo (T,), curves {φ: (T,)}; grid_theta (A,), grid_phi (B,),
    landscape (B, A); path_theta, path_phi (S,); z (G,), posterior (G,), q (G,) for one x; x_shown,
    theta_ml, exact_diagonal (whether q_φ = p_θ(z|x) on φ = θ).
    """
    fig = Figure(figsize=(16, 4.8), dpi=_DPI, layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    fig.suptitle(title, fontsize=11)

    ax1.plot(v["theta"], v["log_px"], color="k", lw=2.2, label=r"$\log p_\theta(x)$ (quadrature)")
    for k, (phi, curve) in enumerate(v["curves"].items()):
        ax1.plot(v["theta"], curve, color=f"C{k}", lw=1.3, label=rf"ELBO($\theta$; $\phi$ = {phi:g})")
    ax1.plot(v["theta"], v["best_elbo"], color="C3", ls="--", lw=1.2, label=r"$\max_\phi$ ELBO($\theta$; $\phi$)")
    lo = float(np.min(v["log_px"]))
    hi = float(np.max(v["log_px"]))
    ax1.set_ylim(lo - 0.6 * (hi - lo) - 0.5, hi + 0.15 * (hi - lo) + 0.1)
    ax1.set_xlabel(r"decoder weight $\theta$")
    ax1.set_ylabel("nats per data point")
    ax1.set_title(r"$\log p_\theta(x)$ (black) and ELBO curves", fontsize=10)
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7.5, loc="lower right")

    A, B = np.meshgrid(v["grid_theta"], v["grid_phi"])
    top = float(np.max(v["landscape"]))
    span = min(12.0, max(1.0, top - float(np.min(v["landscape"]))))  # below top − 12 nats: one colour
    levels = top - np.geomspace(0.005, span, 18)[::-1]
    filled = ax2.contourf(A, B, v["landscape"], levels=np.append(levels, top + 1e-9), cmap="viridis", extend="min")
    fig.colorbar(filled, ax=ax2, label="ELBO (nats per point)", format="%.2f")
    if v["exact_diagonal"]:
        ax2.plot(v["grid_theta"], v["grid_theta"], ":", color="w", lw=1, label=r"$\phi = \theta$: $q$ is exact")
    ax2.axvline(v["theta_ml"], color="w", ls="--", lw=1, label=rf"$\theta_{{ML}}$ = {v['theta_ml']:.3f}")
    ax2.plot(v["path_theta"], v["path_phi"], "-", color="C3", lw=1.5, label="gradient ascent")
    ax2.plot(v["path_theta"][0], v["path_phi"][0], "o", color="C3", ms=6)
    ax2.plot(v["path_theta"][-1], v["path_phi"][-1], "*", color="C1", ms=13, mec="k",
             label=rf"end ($\theta$ = {v['path_theta'][-1]:.3f}, $\phi$ = {v['path_phi'][-1]:.3f})")
    ax2.set_xlim(v["grid_theta"][0], v["grid_theta"][-1])
    ax2.set_ylim(v["grid_phi"][0], v["grid_phi"][-1])
    ax2.set_xlabel(r"decoder weight $\theta$")
    ax2.set_ylabel(r"encoder weight $\phi$")
    ax2.set_title(r"ELBO($\theta$, $\phi$) and the path maximising it", fontsize=10)
    ax2.legend(fontsize=7.5, loc="upper right", framealpha=0.8)

    ax3.plot(v["z"], v["posterior"], color="k", lw=2, label=r"$p_\theta(z \mid x)$ (quadrature)")
    ax3.plot(v["z"], v["q"], color="C3", lw=1.5, label=r"$q_\phi(z \mid x)$")
    ax3.fill_between(v["z"], v["posterior"], color="k", alpha=0.08)
    ax3.set_xlabel("z")
    ax3.set_ylabel("density")
    ax3.set_title(rf"at the end of the path, for the point x = {v['x_shown']:.2f}", fontsize=10)
    ax3.grid(alpha=0.3)
    ax3.legend(fontsize=8)
    return save_figure(fig, path)

