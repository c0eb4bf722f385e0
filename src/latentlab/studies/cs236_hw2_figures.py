"""The β-sweep figures of the cs236-hw2 study: tensors and numbers in, PNG out."""

from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch import Tensor

from latentlab.viz.figures import image_rows
from latentlab.files import atomic_path


def beta_curves(betas: list[float], kl: list[float], rec: list[float], path: Path) -> Path:
    """KL and Rec (nats) against β on a log2 axis, with their sum, the -ELBO."""
    fig = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(betas, rec, "o-", label="Rec = -E_q[log p(x|z)]")
    ax.plot(betas, kl, "s-", label="KL(q(z|x) || p(z))")
    ax.plot(betas, [a + b for a, b in zip(kl, rec)], "^--", color="grey", label="-ELBO = Rec + KL")
    ax.set_xscale("log", base=2)
    ax.set_xticks(betas, [f"{b:g}" for b in betas])
    ax.set_xlabel("β (weight of the KL in training)")
    ax.set_ylabel("nats (CS236 test subset)")
    ax.set_title("β-VAE sweep: the KL falls and Rec rises with β")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", facecolor="white")
    return Path(path)


def beta_gallery(labels: list[str], samples: Tensor, recons: Tensor, originals: Tensor, path: Path) -> Path:
    """Per β one row of samples beside one row of reconstructions; the originals head the right panel.

    samples, recons: (R, S, C, H, W); originals: (S, C, H, W). The left panel's top row is left blank.
    """
    blank = originals.new_ones(1, *originals.shape)
    return image_rows([("samples: E[x|z], z ~ N(0, I)", torch.cat([blank, samples.clamp(0, 1)])),
                       ("reconstructions E[x|z = μ(x)] of the top row", torch.cat([originals[None], recons.clamp(0, 1)]))],
                      ["data x", *labels], path)
