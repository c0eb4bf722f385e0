"""Denoising diffusion probabilistic model (Ho et al. 2020) with ε-prediction.

Forward:   q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I),  ᾱ_t = Π_{s≤t} (1 - β_s)              (eq. 4)
Posterior: q(x_{t-1} | x_t, x_0) = N(μ̃_t, β̃_t I),  μ̃_t = c1_t x_0 + c2_t x_t                (eqs. 6-7)
Reverse:   p_θ(x_{t-1} | x_t) = N(μ̃_t(x_t, x̂_0(x_t, ε_θ)), σ_t² I),  σ_t² = β_t or β̃_t    (eq. 11, §3.2)
Objective: L_simple = E_{t, x_0, ε} ‖ε - ε_θ(√ᾱ_t x_0 + √(1-ᾱ_t) ε, t)‖²                      (eq. 14)
Score:     ∇ log p_t(x_t) ≈ -ε_θ(x_t, t)/√(1 - ᾱ_t)

β schedules: "linear" from beta_start to beta_end, both scaled by 1000/T so that other T
keep about the same ᾱ_T (Nichol & Dhariwal 2021, their code), clipped at 0.999 for T < 50; "cosine": ᾱ_t =
f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2), s = 0.008, β_t clipped at 0.999
(Nichol & Dhariwal 2021, eq. 17). Time steps are 0-based: index t is the paper's t + 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from latentlab.fields import EVEN_POSITIVE_INT, choice, declare, nonnegative_int, numbers, positive_int
from latentlab.models.base import Batch, GenerativeModel
from latentlab.nn import ScoreMLP
from latentlab.objectives.score_matching import eps_prediction_loss
from latentlab.sampling.ddpm import ancestral_sample


def beta_schedule(name: str, T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """β_1..β_T in float64, (T,): "linear" (Ho et al. 2020, §4) or "cosine" (Nichol & Dhariwal 2021, eq. 17)."""
    if name == "linear":
        scale = 1000 / T
        return torch.linspace(scale * beta_start, scale * beta_end, T, dtype=torch.float64).clamp(max=0.999)
    if name == "cosine":
        s = 0.008
        steps = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    raise ValueError(f"unknown beta schedule {name!r}")


BETA = numbers(0.0, 1.0, lo_open=True, hi_open=True, text="a number in (0, 1)")


@dataclass(frozen=True)
class DDPMConfig:
    name: str = choice("ddpm")
    timesteps: int = positive_int(1000)  # T
    schedule: str = choice("linear", "cosine")
    beta_start: float = declare(1e-4, BETA)  # linear schedule at T = 1000 (scaled by 1000/T otherwise)
    beta_end: float = declare(0.02, BETA)
    variance: str = choice("beta", "posterior")  # σ_t² of the reverse step: β_t or β̃_t
    hidden: int = positive_int(128)
    blocks: int = nonnegative_int(3)
    emb_dim: int = declare(32, EVEN_POSITIVE_INT)  # sinusoidal embedding of t
    x_freqs: int = nonnegative_int(4)  # Fourier features of x at π·2^j, j < x_freqs (0: x only); they sharpen 2-D fields

    def broken_rules(self) -> Iterator[tuple[str, str]]:
        """(field, what it accepts) for each rule between fields these values break."""
        if self.schedule == "linear" and self.beta_end < self.beta_start:
            yield "beta_end", f"a number >= model.beta_start ({self.beta_start}): the linear schedule rises"


class DDPM(GenerativeModel):
    """Denoising diffusion probabilistic model (Ho et al. 2020) with ε-prediction.

    Forward:   q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I),  ᾱ_t = Π_{s≤t} (1 - β_s)                    (eq. 4)
    Reverse:   p_θ(x_{t-1} | x_t) = N(μ̃_t(x_t, x̂_0(x_t, ε_θ)), σ_t² I),  σ_t² = β_t or β̃_t,  x_T ~ N(0, I)
               (eqs. 6-7, 11, §3.2); sampled by sampling/ddpm.py (Algorithm 2)
    Objective: L_simple = E_{t, x_0, ε} ‖ε - ε_θ(√ᾱ_t x_0 + √(1-ᾱ_t) ε, t)‖²                           (eq. 14)
    """

    def __init__(self, config: DDPMConfig, x_shape: tuple[int, ...]):
        super().__init__()
        self.config, self.x_shape = config, tuple(x_shape)
        self.num_timesteps = config.timesteps
        self.net = ScoreMLP(math.prod(self.x_shape), config.hidden, config.blocks, config.emb_dim, config.x_freqs)
        # every constant once, in float64, stored as float32 buffers
        betas = beta_schedule(config.schedule, config.timesteps, config.beta_start, config.beta_end)
        alphas = 1 - betas
        alpha_bar = torch.cumprod(alphas, 0)
        alpha_bar_prev = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])
        constants = {
            "betas": betas,
            "alpha_bar": alpha_bar,
            "alpha_bar_prev": alpha_bar_prev,
            "sqrt_alpha_bar": alpha_bar.sqrt(),
            "sqrt_one_minus_alpha_bar": (1 - alpha_bar).sqrt(),
            "posterior_variance": betas * (1 - alpha_bar_prev) / (1 - alpha_bar),  # β̃_t, eq. 7
            "posterior_mean_coef1": betas * alpha_bar_prev.sqrt() / (1 - alpha_bar),  # of x_0, eq. 7
            "posterior_mean_coef2": (1 - alpha_bar_prev) * alphas.sqrt() / (1 - alpha_bar),  # of x_t, eq. 7
            "sigmas": ((1 - alpha_bar) / alpha_bar).sqrt(),  # x_t/√ᾱ_t = x_0 + σ_t ε: the equivalent σ
        }
        for name, value in constants.items():
            self.register_buffer(name, value.float())

    def _at(self, buffer: Tensor, t: Tensor, like: Tensor) -> Tensor:
        """buffer[t] shaped to broadcast against `like` (B, ...)."""
        return buffer[t].view(-1, *[1] * (like.dim() - 1))

    # -- the mathematics
    def q_sample(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, a draw from q(x_t | x_0) (eq. 4)."""
        return self._at(self.sqrt_alpha_bar, t, x0) * x0 + self._at(self.sqrt_one_minus_alpha_bar, t, x0) * eps

    def q_posterior(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean μ̃_t = c1_t x_0 + c2_t x_t and variance β̃_t of q(x_{t-1} | x_t, x_0) (eqs. 6-7)."""
        mean = self._at(self.posterior_mean_coef1, t, x0) * x0 + self._at(self.posterior_mean_coef2, t, x0) * x_t
        return mean, self._at(self.posterior_variance, t, x0).expand_as(x0)

    def eps_hat(self, x_t: Tensor, t: Tensor) -> Tensor:
        """ε_θ(x_t, t), shaped like x_t; t (B,) int64 in [0, T)."""
        c = t.float() * (1000 / self.num_timesteps)
        return self.net(x_t.flatten(1), c).view_as(x_t)

    def predict_x0(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_0 = (x_t - √(1-ᾱ_t) ε)/√ᾱ_t: eq. 4 solved for x_0."""
        return (x_t - self._at(self.sqrt_one_minus_alpha_bar, t, x_t) * eps) / self._at(self.sqrt_alpha_bar, t, x_t)

    def reverse_variance(self, t: Tensor, kind: str) -> Tensor:
        """σ_t² = β_t ("beta") or β̃_t ("posterior"), (B,) (§3.2)."""
        return (self.betas if kind == "beta" else self.posterior_variance)[t]

    def p_losses(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """L_simple at the given t and ε (eq. 14)."""
        return eps_prediction_loss(self.eps_hat(self.q_sample(x0, t, eps), t), eps)

    def score(self, x_t: Tensor, t: Tensor) -> Tensor:
        """∇_{x_t} log p_t(x_t) ≈ -ε_θ(x_t, t)/√(1 - ᾱ_t)."""
        return -self.eps_hat(x_t, t) / self._at(self.sqrt_one_minus_alpha_bar, t, x_t)

    def smoothed_score(self, x: Tensor, level: int) -> Tensor:
        """∇_x log p_σ(x) at σ = σ_t: x_t = √ᾱ_t x, so the score is √ᾱ_t ∇ log p_t(√ᾱ_t x)."""
        t = torch.full((x.shape[0],), level, device=x.device, dtype=torch.long)
        a = self.sqrt_alpha_bar[level]
        return a * self.score(a * x, t)

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        x0 = batch["x"]
        t = torch.randint(self.num_timesteps, (x0.shape[0],), device=x0.device)
        loss = self.p_losses(x0, t, torch.randn_like(x0))
        return {"loss": loss, "eps_mse": loss}

    def _ancestral(self, n: int, generator, trajectory: bool):
        x_T = torch.randn(n, *self.x_shape, generator=generator, device=self.betas.device)
        return ancestral_sample(self, x_T, variance=self.config.variance, generator=generator,
                                return_trajectory=trajectory)

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        """x_0 ~ p_θ by ancestral sampling from x_T ~ N(0, I) (Algorithm 2)."""
        return self._ancestral(n, generator, False)

    def sample_trajectory(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self._ancestral(n, generator, True)[1]
