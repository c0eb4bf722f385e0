"""The figures of a 2-D score model: computes fields, densities and paths through the model's
`NoiseConditionalScore` capability and the toy distribution, then hands them to viz/fields.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from latentlab.data import toy2d
from latentlab.evaluation.sample_metrics import FIELD_SIGMAS, nearest_level
from latentlab.viz import fields as viz

GRID_ARROWS = 17  # arrows per side
GRID_DENSITY = 160  # density pixels per side


def smoothed_density(name: str, sigma: float, lim: float, generator: torch.Generator | None = None) -> Tensor:
    """p_σ = p_data ⊛ N(0, σ²I) on a GRID_DENSITY² grid over [-lim, lim]² (row 0 = lowest y):
    exact for the mixtures, else a histogram of 200,000 draws blurred by N(0, σ²) (mass outside the view lost)."""
    mixture = toy2d.mixture(name)
    if mixture is not None:
        points = viz.grid_points(lim, GRID_DENSITY).view(-1, 2)
        return mixture.perturbed(sigma).log_prob(points).exp().view(GRID_DENSITY, GRID_DENSITY)
    x = toy2d.sample(name, 200_000, generator)
    hist = torch.histogramdd(x, bins=[GRID_DENSITY, GRID_DENSITY], range=[-lim, lim, -lim, lim]).hist  # (x, y)
    width = 2 * lim / GRID_DENSITY
    half = min(GRID_DENSITY - 1, math.ceil(4 * sigma / width))
    offsets = torch.arange(-half, half + 1, dtype=torch.float32) * width
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    h = hist.T[None]  # (1, y, x): blur along x, then along y (a separable Gaussian)
    h = torch.nn.functional.conv1d(h.reshape(-1, 1, GRID_DENSITY), kernel, padding=half).view(1, GRID_DENSITY, -1)
    h = torch.nn.functional.conv1d(h[0].T.reshape(-1, 1, GRID_DENSITY), kernel, padding=half)
    density = h.view(GRID_DENSITY, GRID_DENSITY).T  # back to (y, x)
    return density / density.sum()


@torch.no_grad()
def field_levels(model, name: str, lim: float, generator: torch.Generator | None = None,
                 targets: tuple[float, ...] = FIELD_SIGMAS) -> list[dict]:
    """For each target σ, the model's nearest level: its σ, p_σ, the learned score on the arrow
    grid and, for the mixtures, the exact one."""
    grid = viz.grid_points(lim, GRID_ARROWS)
    flat = grid.view(-1, 2).to(model.sigmas.device)
    mixture = toy2d.mixture(name)
    levels = []
    for target in targets:
        level = nearest_level(model.sigmas, target)
        sigma = float(model.sigmas[level])
        entry = {"sigma": sigma, "density": smoothed_density(name, sigma, lim, generator),
                 "learned": model.smoothed_score(flat, level).cpu().view_as(grid)}
        if mixture is not None:
            entry["exact"] = mixture.perturbed(sigma).score(flat.cpu()).view_as(grid)
        levels.append(entry)
    return levels


def modes_of(name: str) -> tuple[Tensor, float] | None:
    """(means, 3·std) of a mixture, for the circles of the sample figures; None otherwise."""
    mixture = toy2d.mixture(name)
    return None if mixture is None else (mixture.means, 3 * mixture.std)


@torch.no_grad()
def score_figures(model, name: str, out: Path, *, n: int = 2000, paths: int = 500, seed: int = 0,
                  label: str = "model") -> list[Path]:
    """samples.png, score_field.png and trajectories.png of one 2-D score model into `out`."""
    device = model.sigmas.device
    g = torch.Generator(device=device).manual_seed(seed)
    data = toy2d.sample(name, n, torch.Generator().manual_seed(seed))
    lim = viz.plot_limit(data)
    samples = model.sample(n, generator=g).cpu()
    traj = model.sample_trajectory(paths, generator=g).cpu()
    levels = field_levels(model, name, lim, torch.Generator().manual_seed(seed))
    return [
        viz.samples_vs_data(data, {label: samples}, out / "samples.png", modes=modes_of(name), lim=lim,
                            title=f"{name}: data and {label} samples"),
        viz.score_fields(viz.grid_points(lim, GRID_ARROWS), levels, out / "score_field.png", lim=lim,
                         title=f"{name}: {label} score ∇log p_σ over p_σ"),
        viz.trajectories({label: traj}, data, out / "trajectories.png", lim=lim, title=f"{name}: sampling paths"),
    ]
