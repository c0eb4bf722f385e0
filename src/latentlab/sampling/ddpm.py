"""DDPM ancestral sampling (Ho et al. 2020, Algorithm 2): a stateless sampler.

The loop lives here, the equations in the model (`models/ddpm.py`): the sampler only needs a
`Diffusion` — anything with the four methods below — so it keeps no schedule state of its own.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class Diffusion(Protocol):
    num_timesteps: int

    def eps_hat(self, x_t: Tensor, t: Tensor) -> Tensor:
        """ε_θ(x_t, t), shaped like x_t."""

    def predict_x0(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_0 = (x_t - √(1-ᾱ_t) ε)/√ᾱ_t (eq. 4 solved for x_0)."""

    def q_posterior(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0) (eqs. 6-7)."""

    def reverse_variance(self, t: Tensor, kind: str) -> Tensor:
        """σ_t² of p_θ(x_{t-1} | x_t): β_t ("beta") or β̃_t ("posterior"), §3.2."""


@torch.no_grad()
def ancestral_sample(
    model: Diffusion,
    x_T: Tensor,
    *,
    variance: str = "beta",
    generator: torch.Generator | None = None,
    return_trajectory: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """x_{t-1} ~ p_θ(x_{t-1} | x_t) = N(μ_θ(x_t, t), σ_t² I) for t = T..1, from x_T ~ N(0, I).

    Time is 0-based here: index t = T-1 .. 0 is the paper's t = T .. 1. Returns x_0, or
    (x_0, trajectory) with the trajectory (T + 1, B, ...) from x_T to x_0.
    """
    x = x_T
    path = [x] if return_trajectory else None
    for step in reversed(range(model.num_timesteps)):
        t = torch.full((x.shape[0],), step, device=x.device, dtype=torch.long)
        # 1. predict the noise: ε̂ = ε_θ(x_t, t)
        eps = model.eps_hat(x, t)
        # 2. predict the data: x̂_0 = (x_t - √(1-ᾱ_t) ε̂)/√ᾱ_t (eq. 15's parametrisation)
        x0 = model.predict_x0(x, t, eps)
        # 3. μ_θ(x_t, t) = μ̃_t(x_t, x̂_0), the posterior mean of eq. 7; with step 2 this is eq. 11
        mean, _ = model.q_posterior(x0, x, t)
        # 4. x_{t-1} = μ_θ + σ_t z, z ~ N(0, I), and z = 0 at the last step (Algorithm 2, lines 3-4)
        if step > 0:
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            std = model.reverse_variance(t, variance).sqrt().view(-1, *[1] * (x.dim() - 1))
            x = mean + std * z
        else:
            x = mean
        if path is not None:
            path.append(x)
    return (x, torch.stack(path)) if path is not None else x
