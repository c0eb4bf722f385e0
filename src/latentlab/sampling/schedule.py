"""The noise schedule of a diffusion model, built once: β_1..β_T and every constant the samplers use.

Ho et al. 2020 (eqs. 4, 6-7): α_t = 1 - β_t, ᾱ_t = Π_{s≤t} α_s, q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I),
q(x_{t-1} | x_t, x_0) = N(c1_t x_0 + c2_t x_t, β̃_t I), β̃_t = β_t (1 - ᾱ_{t-1})/(1 - ᾱ_t).
Time steps are 0-based: index t is the paper's t + 1, and ᾱ at index -1 (the paper's ᾱ_0) is 1.

β schedules: "linear" from beta_start to beta_end, both scaled by 1000/T so that other T keep about
the same ᾱ_T (Nichol & Dhariwal 2021, their code), clipped at 0.999 for T < 50; "cosine": ᾱ_t =
f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2), s = 0.008, β_t clipped at 0.999 (Nichol & Dhariwal
2021, eq. 17). Every constant is computed in float64 and kept in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor


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


@dataclass(frozen=True)
class NoiseSchedule:
    """The constants of one β schedule, each (T,) float32 (a model registers them as buffers under these names)."""

    betas: Tensor
    alpha_bar: Tensor
    alpha_bar_prev: Tensor  # ᾱ_{t-1}, with ᾱ_0 = 1
    sqrt_alpha_bar: Tensor
    sqrt_one_minus_alpha_bar: Tensor
    posterior_variance: Tensor  # β̃_t (eq. 7)
    posterior_mean_coef1: Tensor  # c1_t, of x_0 (eq. 7)
    posterior_mean_coef2: Tensor  # c2_t, of x_t (eq. 7)
    sigmas: Tensor  # √((1 - ᾱ_t)/ᾱ_t): x_t/√ᾱ_t = x_0 + σ_t ε, the equivalent noise level of a VE process

    @classmethod
    def from_betas(cls, betas: Tensor) -> NoiseSchedule:
        """Every constant from β (T,), computed in float64 and kept in float32."""
        betas = betas.double()
        alphas = 1 - betas
        alpha_bar = torch.cumprod(alphas, 0)
        alpha_bar_prev = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])
        constants = {
            "betas": betas,
            "alpha_bar": alpha_bar,
            "alpha_bar_prev": alpha_bar_prev,
            "sqrt_alpha_bar": alpha_bar.sqrt(),
            "sqrt_one_minus_alpha_bar": (1 - alpha_bar).sqrt(),
            "posterior_variance": betas * (1 - alpha_bar_prev) / (1 - alpha_bar),
            "posterior_mean_coef1": betas * alpha_bar_prev.sqrt() / (1 - alpha_bar),
            "posterior_mean_coef2": (1 - alpha_bar_prev) * alphas.sqrt() / (1 - alpha_bar),
            "sigmas": ((1 - alpha_bar) / alpha_bar).sqrt(),
        }
        return cls(**{name: value.float() for name, value in constants.items()})

    @classmethod
    def build(cls, name: str, T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
        """The schedule `name` ("linear" or "cosine") with T steps."""
        return cls.from_betas(beta_schedule(name, T, beta_start, beta_end))

    @classmethod
    def of(cls, module: torch.nn.Module) -> NoiseSchedule:
        """The schedule whose constants `module` holds as buffers (on its device, in its state)."""
        return cls(**{f.name: getattr(module, f.name) for f in fields(cls)})

    def tensors(self) -> dict[str, Tensor]:
        """{name: constant}, to register as buffers."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def T(self) -> int:
        return len(self.betas)

    def at(self, name: str, t: Tensor, like: Tensor) -> Tensor:
        """The constant `name` at steps t (B,), shaped (B, 1, ...) to broadcast against `like` (B, ...)."""
        return getattr(self, name)[t].view(-1, *[1] * (like.dim() - 1))

    def q_sample(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, a draw from q(x_t | x_0) (eq. 4)."""
        return self.at("sqrt_alpha_bar", t, x0) * x0 + self.at("sqrt_one_minus_alpha_bar", t, x0) * eps

    def predict_x0(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x̂_0 = (x_t - √(1-ᾱ_t) ε)/√ᾱ_t: eq. 4 solved for x_0."""
        return (x_t - self.at("sqrt_one_minus_alpha_bar", t, x_t) * eps) / self.at("sqrt_alpha_bar", t, x_t)

    def predict_eps(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        """ε̂ = (x_t - √ᾱ_t x_0)/√(1-ᾱ_t): eq. 4 solved for ε."""
        return (x_t - self.at("sqrt_alpha_bar", t, x_t) * x0) / self.at("sqrt_one_minus_alpha_bar", t, x_t)

    def q_posterior(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean μ̃_t = c1_t x_0 + c2_t x_t and variance β̃_t of q(x_{t-1} | x_t, x_0) (eqs. 6-7)."""
        mean = self.at("posterior_mean_coef1", t, x0) * x0 + self.at("posterior_mean_coef2", t, x0) * x_t
        return mean, self.at("posterior_variance", t, x0).expand_as(x0)

    def reverse_variance(self, t: Tensor, kind: str) -> Tensor:
        """σ_t² of p_θ(x_{t-1} | x_t): β_t ("beta") or β̃_t ("posterior"), (B,) (Ho et al. 2020, §3.2)."""
        return (self.betas if kind == "beta" else self.posterior_variance)[t]
