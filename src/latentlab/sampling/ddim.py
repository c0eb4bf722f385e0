"""DDIM sampling (Song, Meng & Ermon 2021, eq. 12) over a subsequence τ of the time steps: a stateless sampler.

x_{τ_{i-1}} = √ᾱ_{τ_{i-1}} x̂_0 + √(1 - ᾱ_{τ_{i-1}} - σ²) ε̂ + σ z,  x̂_0 = (x_τ - √(1-ᾱ_τ) ε̂)/√ᾱ_τ   (eq. 12)
σ = η √((1 - ᾱ_{τ_{i-1}})/(1 - ᾱ_τ)) √(1 - ᾱ_τ/ᾱ_{τ_{i-1}})                                  (eq. 16)
η = 0 is the deterministic DDIM; η = 1 over every step is DDPM's ancestral sampler with σ² = β̃_t.
Time is 0-based: the step after index 0 lands on ᾱ = 1 (x_0 itself).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from latentlab.sampling.ddpm import Box, EpsFn, clipped
from latentlab.sampling.schedule import NoiseSchedule


def ddim_timesteps(T: int, steps: int, spacing: str = "uniform") -> list[int]:
    """τ: `steps` 0-based time steps from T - 1 down to 0, strictly decreasing (Song et al. 2021, App. D.2).

    "uniform": τ_i = round(i (T-1)/(S-1)); "quadratic": τ_i = round((T-1)(i/(S-1))²), each at least one
    step above the one before (the quadratic rule crowds the small t, where the samples take their detail).
    """
    if not 1 <= steps <= T:
        raise ValueError(f"DDIM takes between 1 and T = {T} steps, got {steps}")
    if steps == 1:
        return [T - 1]
    grid = [i / (steps - 1) for i in range(steps)]
    raw = [round((T - 1) * (u if spacing == "uniform" else u * u)) for u in grid]
    tau = [raw[0]]
    for r in raw[1:]:
        tau.append(max(r, tau[-1] + 1))
    return tau[::-1]


def ddim_sigma(alpha_bar: float, alpha_bar_prev: float, eta: float) -> float:
    """σ = η √((1 - ᾱ_prev)/(1 - ᾱ)) √(1 - ᾱ/ᾱ_prev): Song et al. 2021, eq. 16."""
    return eta * math.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * math.sqrt(1 - alpha_bar / alpha_bar_prev)


@torch.no_grad()
def ddim_sample(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x_T: Tensor,
    *,
    steps: int,
    eta: float = 0.0,
    spacing: str = "uniform",
    clip: Box | None = None,
    generator: torch.Generator | None = None,
    return_trajectory: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """x_0 from x_T ~ N(0, I) in `steps` network calls by eq. 12 over τ = ddim_timesteps(T, steps, spacing).

    `clip`: x̂_0 clamped to the data's range, and ε̂ recomputed from the clamped x̂_0 so that the step stays
    on the line eq. 12 draws. Returns x_0, or (x_0, trajectory) with the trajectory (steps + 1, B, ...).
    """
    tau = ddim_timesteps(schedule.T, steps, spacing)
    alpha_bar = schedule.alpha_bar.double().tolist()
    x = x_T
    path = [x] if return_trajectory else None
    for i, step in enumerate(tau):
        t = torch.full((x.shape[0],), step, device=x.device, dtype=torch.long)
        a, a_prev = alpha_bar[step], (alpha_bar[tau[i + 1]] if i + 1 < len(tau) else 1.0)
        # 1. ε̂ = ε_θ(x_τ, τ), and x̂_0 = (x_τ - √(1-ᾱ_τ) ε̂)/√ᾱ_τ: eq. 12's "predicted x_0"
        eps = eps_fn(x, t)
        x0 = schedule.predict_x0(x, t, eps)
        if clip is not None:
            x0 = clipped(x0, clip)
            eps = schedule.predict_eps(x, t, x0)
        # 2. σ of eq. 16 at this step
        sigma = ddim_sigma(a, a_prev, eta)
        # 3. x_prev = √ᾱ_prev x̂_0 + √(1 - ᾱ_prev - σ²) ε̂ + σ z: eq. 12's three terms
        x = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        if path is not None:
            path.append(x)
    return (x, torch.stack(path)) if path is not None else x
