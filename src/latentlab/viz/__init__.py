"""Figures: tensors in, PNG files out. Nothing here builds or calls a model."""

from __future__ import annotations

from latentlab.viz.figures import (
    interpolation,
    latent_manifold,
    latent_scatter,
    loss_curves,
    reconstructions,
    sample_grid,
)
from latentlab.viz.grid import image_grid, save_png

__all__ = [
    "image_grid",
    "interpolation",
    "latent_manifold",
    "latent_scatter",
    "loss_curves",
    "reconstructions",
    "sample_grid",
    "save_png",
]
