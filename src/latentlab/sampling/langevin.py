"""Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1): a stateless sampler."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

ScoreFn = Callable[[Tensor, int], Tensor]  # (x, level index i) -> s_θ(x, σ_i), shaped like x


@torch.no_grad()
def annealed_langevin(
    score: ScoreFn,
    sigmas: Tensor,
    x: Tensor,
    *,
    steps_each: int,
    step_lr: float,
    denoise: bool = True,
    generator: torch.Generator | None = None,
    return_trajectory: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """x ← x + (α_i/2) s_θ(x, σ_i) + √α_i z, α_i = ε σ_i²/σ_L², for i = 1..L, `steps_each` times each.

    sigmas: (L,) decreasing, σ_1 > ... > σ_L; x: the start x_0 (B, ...); step_lr: ε.
    denoise: finish with x ← x + σ_L² s_θ(x, σ_L), the posterior mean E[x_data | x] by Tweedie's
    formula (Efron 2011; Jolicoeur-Martineau et al. 2021), which removes the
    last σ_L of noise. Returns x, or (x, trajectory) with the trajectory (L·T + 1 (+1), B, ...)
    holding the start, every Langevin step and the denoised end.
    """
    if sigmas.dim() != 1 or len(sigmas) > 1 and not bool((sigmas[1:] < sigmas[:-1]).all()):
        raise ValueError("annealed_langevin needs a decreasing 1-D ladder of σ")
    sigma_last = float(sigmas[-1])
    path = [x] if return_trajectory else None
    for i, sigma in enumerate(sigmas.tolist()):
        # 1. the step size of level i: α_i = ε·σ_i²/σ_L² (Algorithm 1, line 3)
        alpha = step_lr * (sigma / sigma_last) ** 2
        for _ in range(steps_each):
            # 2. z ~ N(0, I) (line 5)
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            # 3. x_t = x_{t-1} + (α_i/2) s_θ(x_{t-1}, σ_i) + √α_i z (line 6)
            x = x + 0.5 * alpha * score(x, i) + alpha**0.5 * z
            if path is not None:
                path.append(x)
    if denoise:
        # 4. one Tweedie step at the smallest level: x + σ_L² ∇ log p_σL(x)
        x = x + sigma_last**2 * score(x, len(sigmas) - 1)
        if path is not None:
            path.append(x)
    return (x, torch.stack(path)) if path is not None else x
