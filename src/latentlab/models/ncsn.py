"""Noise-conditional score network (Song & Ermon 2019) trained by denoising score matching.

Noise ladder: σ_1 > ... > σ_L geometric from sigma_max to sigma_min; p_σ = p_data ⊛ N(0, σ²I).
Score:        s_θ(x, σ) = f_θ(x, σ)/σ ≈ ∇_x log p_σ(x)  (the 1/σ output scaling of Song & Ermon 2020, technique 3)
Objective:    L = E_i E_x E_ε ½ σ_i² ‖s_θ(x + σ_i ε, σ_i) + ε/σ_i‖²,  i ~ U{1..L}   (eqs. 5-6)
Sampling:     annealed Langevin dynamics (Algorithm 1), `sampling/langevin.py`.

The network is nn.ScoreMLP, shared with DDPM; the model satisfies the `NoiseConditionalScore`
capability (models/base.py) the 2-D metrics and figures use.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from latentlab.fields import EVEN_POSITIVE_INT, check_rules, choice, declare, flag, integer, nonnegative_int, positive, positive_int
from latentlab.models.base import Batch, GenerativeModel
from latentlab.nn import ScoreMLP
from latentlab.objectives.score_matching import denoising_score_matching
from latentlab.sampling.langevin import annealed_langevin


@dataclass(frozen=True)
class NCSNConfig:
    name: str = choice("ncsn")
    sigma_max: float = positive(1.0)  # σ_1, about the spread of standardised data
    sigma_min: float = positive(0.01)  # σ_L
    num_sigmas: int = integer(10, lo=2)  # L, geometric between the two
    hidden: int = positive_int(128)
    blocks: int = nonnegative_int(3)
    emb_dim: int = declare(32, EVEN_POSITIVE_INT)  # sinusoidal embedding of the noise level
    x_freqs: int = nonnegative_int(4)  # Fourier features of x at π·2^j, j < x_freqs (0: x only); they sharpen 2-D fields
    steps_each: int = positive_int(20)  # Langevin steps per level (T in Algorithm 1; the paper: 100 with ε = 2e-5)
    step_lr: float = positive(1.5e-4)  # ε: the step at level i is ε σ_i²/σ_L²
    denoise: bool = flag(True)  # a final Tweedie step x + σ_L² s_θ(x, σ_L)

    def broken_rules(self) -> Iterator[tuple[str, str]]:
        """(field, what it accepts) for each rule between fields these values break."""
        if self.sigma_min >= self.sigma_max:
            yield "sigma_min", f"a number below model.sigma_max ({self.sigma_max}): σ_L < σ_1"


class NCSN(GenerativeModel):
    """Noise-conditional score network (Song & Ermon 2019) trained by denoising score matching.

    Model:     s_θ(x, σ) = f_θ(x, σ)/σ ≈ ∇_x log p_σ(x),  p_σ = p_data ⊛ N(0, σ²I),  σ_1 > ... > σ_L geometric
    Objective: L = E_i E_x E_ε ½ σ_i² ‖s_θ(x + σ_i ε, σ_i) + ε/σ_i‖²,  i ~ U{1..L}   (Song & Ermon 2019, eqs. 5-6)
    Sampling:  x ~ p_θ by annealed Langevin dynamics over the σ ladder (Algorithm 1), from N(0, (1 + σ_1²) I).
    """

    def __init__(self, config: NCSNConfig, x_shape: tuple[int, ...]):
        super().__init__()
        check_rules(config, "model")  # σ_L < σ_1, also for a config built in Python
        self.config, self.x_shape = config, tuple(x_shape)
        self.net = ScoreMLP(math.prod(self.x_shape), config.hidden, config.blocks, config.emb_dim, config.x_freqs)
        sigmas = torch.logspace(math.log10(config.sigma_max), math.log10(config.sigma_min), config.num_sigmas,
                                dtype=torch.float64)
        self.register_buffer("sigmas", sigmas.float())  # (L,) decreasing

    def noise_coordinate(self, sigma: Tensor) -> Tensor:
        """σ -> c = 1000·log(σ_1/σ)/log(σ_1/σ_L) in [0, 1000], the network's noise input."""
        c = self.config
        return 1000 * torch.log(c.sigma_max / sigma) / math.log(c.sigma_max / c.sigma_min)

    def score(self, x: Tensor, sigma: Tensor) -> Tensor:
        """s_θ(x, σ) = f_θ(x, σ)/σ for x (B, ...) and σ (B,)."""
        f = self.net(x.flatten(1), self.noise_coordinate(sigma))  # (B, D)
        return (f / sigma[:, None]).view_as(x)

    def smoothed_score(self, x: Tensor, level: int) -> Tensor:
        return self.score(x, self.sigmas[level].expand(x.shape[0]))

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        x = batch["x"]
        i = torch.randint(len(self.sigmas), (x.shape[0],), device=x.device)
        sigma = self.sigmas[i]  # (B,)
        x_tilde = x + sigma.view(-1, *[1] * (x.dim() - 1)) * torch.randn_like(x)
        dsm = denoising_score_matching(self.score(x_tilde, sigma), x_tilde, x, sigma)
        return {"loss": dsm, "dsm": dsm}

    def _langevin(self, n: int, generator, trajectory: bool):
        """Start from N(0, (1 + σ_1²) I), the moments of p_σ1 for standardised data."""
        device = self.sigmas.device
        x = torch.randn(n, *self.x_shape, generator=generator, device=device) * math.sqrt(1 + self.config.sigma_max**2)
        return annealed_langevin(self.smoothed_score, self.sigmas, x, steps_each=self.config.steps_each,
                                 step_lr=self.config.step_lr, denoise=self.config.denoise, generator=generator,
                                 return_trajectory=trajectory)

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        """x ~ p_θ by annealed Langevin dynamics over the σ ladder."""
        return self._langevin(n, generator, False)

    def sample_trajectory(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self._langevin(n, generator, True)[1]
