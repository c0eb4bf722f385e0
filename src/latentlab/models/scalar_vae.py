"""A VAE small enough to draw: 1-D data, a scalar latent, one decoder weight θ and one encoder weight φ.

Generative model:  z ~ N(0, 1),   x | z ~ N(θ f(z), σ²),   f(z) = z ("linear"), tanh z or z² ("square").
Inference model:   q_φ(z|x) = N(φ x / (φ² + σ²), σ² / (φ² + σ²)), the exact posterior of the linear
                   model with weight φ: for f(z) = z, q_φ = p_θ(z|x) exactly when φ = θ (Bishop 2006, eq. 2.116).
ELBO(x; θ, φ) = E_q[log p_θ(x, z) − log q_φ(z|x)] = log p_θ(x) − KL(q_φ(z|x) || p_θ(z|x)).

Every quantity is computed by deterministic quadrature in float64, so the curves are those of the
model itself, not Monte Carlo estimates: the ELBO by Gauss-Hermite quadrature over the
reparameterisation z = m + s·t (exact for polynomial f, and differentiable in θ and φ), log p(x)
and the KL to the true posterior by the trapezoidal rule on a fine grid of z. The functions take
x (N,) and θ, φ of any broadcastable shape S, and return (*S, N).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from latentlab.fields import choice, number, positive, positive_int
from latentlab.models.base import Batch, GenerativeModel
from latentlab.probability import LOG_2PI

DECODERS = {"linear": lambda z: z, "tanh": torch.tanh, "square": lambda z: z * z}


# ----------------------------------------------------------------------------- the model, as functions


def log_joint(x: Tensor, z: Tensor, theta: Tensor, decoder: str, sigma: float) -> Tensor:
    """log p_θ(x, z) = log N(z; 0, 1) + log N(x; θ f(z), σ²), broadcast over all inputs."""
    residual = x - theta * DECODERS[decoder](z)
    return -0.5 * (LOG_2PI + z * z) - 0.5 * (LOG_2PI + 2 * np.log(sigma) + residual * residual / sigma**2)


def q_params(x: Tensor, phi: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
    """Mean and variance of q_φ(z|x) = N(φx/(φ² + σ²), σ²/(φ² + σ²)); φ (*S) and x (N,) give (*S, N)."""
    phi = _lead(phi)
    denom = phi * phi + sigma**2
    return phi * x / denom, (sigma**2 / denom).expand(*phi.shape[:-1], x.shape[-1])


def elbo(x: Tensor, theta: Tensor, phi: Tensor, decoder: str, sigma: float, n_nodes: int = 64) -> Tensor:
    """ELBO(x; θ, φ) = Σ_k w_k [log p_θ(x, z_k) − log q_φ(z_k|x)],  z_k = m + s·t_k (Gauss-Hermite), (*S, N)."""
    t, w = _gauss_hermite(n_nodes, x)  # (K,), weights sum to 1 under N(0, 1)
    m, v = q_params(x, phi, sigma)  # (*S, N)
    z = m[..., None] + v.sqrt()[..., None] * t  # (*S, N, K)
    log_q = -0.5 * (LOG_2PI + v.log()[..., None] + t * t)  # (*S, N, K)
    log_p = log_joint(x[..., None], z, _lead(theta)[..., None], decoder, sigma)
    return ((log_p - log_q) * w).sum(-1)


def log_px(x: Tensor, theta: Tensor, decoder: str, sigma: float, grid: Tensor | None = None) -> Tensor:
    """log p_θ(x) = log ∫ p_θ(x, z) dz by the trapezoidal rule on `grid` (default z_grid()), (*S, N)."""
    z, log_dz = _trapezoid(grid, x)
    return torch.logsumexp(log_joint(x[..., None], z, _lead(theta)[..., None], decoder, sigma) + log_dz, -1)


def kl_to_posterior(x: Tensor, theta: Tensor, phi: Tensor, decoder: str, sigma: float,
                    grid: Tensor | None = None) -> Tensor:
    """KL(q_φ(z|x) || p_θ(z|x)) = ∫ q(z|x) [log q(z|x) − log p_θ(z|x)] dz, (*S, N), both integrals by trapezoids.

    The posterior p_θ(z|x) = p_θ(x, z) / p_θ(x) is normalised on `grid` (log_px); the KL integral runs
    over q's own support, z = m + s·u with u on a grid of ±12 standard deviations.
    """
    m, v = q_params(x, phi, sigma)  # (*S, N)
    u, log_du = _trapezoid(torch.linspace(-12, 12, 1201, dtype=torch.float64), x)
    z = m[..., None] + v.sqrt()[..., None] * u  # (*S, N, U)
    log_q = -0.5 * (LOG_2PI + v.log()[..., None] + u * u)  # (*S, N, U)
    log_post = log_joint(x[..., None], z, _lead(theta)[..., None], decoder, sigma) \
        - log_px(x, theta, decoder, sigma, grid)[..., None]
    weight = (log_q + log_du + 0.5 * v.log()[..., None]).exp()  # q(z) dz, dz = s du
    return (weight * (log_q - log_post)).sum(-1)


def z_grid(half_width: float = 10.0, n: int = 2001, dtype=torch.float64) -> Tensor:
    """The default quadrature grid over z: n points on [−half_width, half_width], spacing 0.01.

    The trapezoidal rule converges geometrically for smooth, fast-decaying integrands: with a
    spacing of half a posterior standard deviation its error is already below 1e-30, and here the
    narrowest posterior (z², θ = 3.5, x ≈ 10) has a standard deviation of about 0.04."""
    return torch.linspace(-half_width, half_width, n, dtype=dtype)


def _lead(p) -> Tensor:
    """A parameter of shape S as (*S, 1), to broadcast against the data dimension N."""
    return torch.as_tensor(p, dtype=torch.float64)[..., None]


def _trapezoid(grid: Tensor | None, like: Tensor) -> tuple[Tensor, Tensor]:
    """Grid points and log trapezoidal weights (log Δz, halved at both ends)."""
    z = (z_grid() if grid is None else grid).to(like)
    dz = torch.full_like(z, float(z[1] - z[0]))
    dz[0] = dz[-1] = dz[0] / 2
    return z, dz.log()


def _gauss_hermite(n: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Nodes and weights with Σ_k w_k g(t_k) ≈ E[g(t)], t ~ N(0, 1) (probabilists' Hermite)."""
    t, w = _hermegauss(n)
    return torch.as_tensor(t).to(like), torch.as_tensor(w).to(like)


@functools.cache
def _hermegauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.hermite_e.hermegauss(n)
    return t, w / w.sum()


# ----------------------------------------------------------------------------- the model, as a module


@dataclass(frozen=True)
class ScalarVAEConfig:
    name: str = choice("scalar_vae")
    decoder: str = choice("linear", "tanh", "square")
    sigma: float = positive(0.5)  # the fixed standard deviation of p(x|z)
    theta: float = number(0.5)  # initial decoder weight
    phi: float = number(3.0)  # initial encoder weight
    n_nodes: int = positive_int(64)  # Gauss-Hermite nodes of the ELBO


class ScalarVAE(GenerativeModel):
    """The two scalar weights θ and φ as parameters; the loss is −ELBO by quadrature, averaged over x."""

    def __init__(self, config: ScalarVAEConfig, x_shape: tuple[int, ...] = (1,)):
        super().__init__()
        self.config = config
        self.theta = nn.Parameter(torch.tensor(config.theta, dtype=torch.float64))
        self.phi = nn.Parameter(torch.tensor(config.phi, dtype=torch.float64))

    def elbo(self, x: Tensor) -> Tensor:
        c = self.config
        return elbo(x.flatten().double(), self.theta, self.phi, c.decoder, c.sigma, c.n_nodes)

    def log_px(self, x: Tensor) -> Tensor:
        return log_px(x.flatten().double(), self.theta, self.config.decoder, self.config.sigma)

    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        nelbo = -self.elbo(batch["x"]).mean()
        return {"loss": nelbo, "nelbo": nelbo}

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        """x = θ f(z) + σε, z, ε ~ N(0, 1); (n, 1)."""
        z, eps = torch.randn(2, n, 1, generator=generator, dtype=torch.float64)
        return (self.theta * DECODERS[self.config.decoder](z) + self.config.sigma * eps).detach()
