"""DDPM ancestral sampling (Ho et al. 2020, Algorithm 2): a stateless sampler.

The sampler takes the noise prediction ε_θ(x_t, t) as a function and the schedule as a frozen
`NoiseSchedule`: it keeps no state of its own, and the network never sees the loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from latentlab.sampling.schedule import NoiseSchedule

EpsFn = Callable[[Tensor, Tensor], Tensor]  # (x_t (B, ...), t (B,) int64) -> ε_θ(x_t, t), shaped like x_t
Box = tuple[Tensor | float, Tensor | float]  # the range (low, high) x̂_0 is clipped to


def clipped(x0: Tensor, clip: Box | None) -> Tensor:
    """x̂_0 clamped to the data's range `clip` = (low, high), each a number or a tensor broadcasting against x̂_0."""
    return x0 if clip is None else x0.clamp(*clip)


@torch.no_grad()
def ancestral_sample(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x_T: Tensor,
    *,
    variance: str = "beta",
    clip: Box | None = None,
    generator: torch.Generator | None = None,
    return_trajectory: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """x_{t-1} ~ p_θ(x_{t-1} | x_t) = N(μ_θ(x_t, t), σ_t² I) for t = T..1, from x_T ~ N(0, I).

    Time is 0-based here: index t = T-1 .. 0 is the paper's t = T .. 1. `clip`: x̂_0 clamped to the
    data's range before the posterior mean (Ho et al. 2020's code clips to [-1, 1]). Returns x_0, or
    (x_0, trajectory) with the trajectory (T + 1, B, ...) from x_T to x_0.
    """
    x = x_T
    path = [x] if return_trajectory else None
    for step in reversed(range(schedule.T)):
        t = torch.full((x.shape[0],), step, device=x.device, dtype=torch.long)
        # 1. predict the noise: ε̂ = ε_θ(x_t, t)
        eps = eps_fn(x, t)
        # 2. predict the data: x̂_0 = (x_t - √(1-ᾱ_t) ε̂)/√ᾱ_t (eq. 15's parametrisation), clipped to the data's range
        x0 = clipped(schedule.predict_x0(x, t, eps), clip)
        # 3. μ_θ(x_t, t) = μ̃_t(x_t, x̂_0), the posterior mean of eq. 7; with step 2 this is eq. 11
        mean, _ = schedule.q_posterior(x0, x, t)
        # 4. x_{t-1} = μ_θ + σ_t z, z ~ N(0, I), and z = 0 at the last step (Algorithm 2, lines 3-4)
        if step > 0:
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            std = schedule.reverse_variance(t, variance).sqrt().view(-1, *[1] * (x.dim() - 1))
            x = mean + std * z
        else:
            x = mean
        if path is not None:
            path.append(x)
    return (x, torch.stack(path)) if path is not None else x
