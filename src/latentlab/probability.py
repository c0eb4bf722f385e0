"""Log-densities, KL divergences and reparameterised sampling: pure tensor functions.

Conventions: log-densities sum over the last (event) dimension and keep every constant
(log 2π included), so a (B, D) input gives (B,). `log_*` is higher-is-better. Variances are
passed as variances (`var`), never as log-variances, unless the name says `logvar`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def sample_gaussian(mean: Tensor, var: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """z = mean + sqrt(var) * eps, eps ~ N(0, I): the reparameterisation trick (Kingma & Welling 2014, §2.4)."""
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + var.sqrt() * eps


def log_normal(x: Tensor, mean: Tensor, var: Tensor) -> Tensor:
    """log N(x; mean, diag(var)) = -1/2 Σ_d [log 2π + log var_d + (x_d - mean_d)² / var_d]."""
    return -0.5 * (LOG_2PI + var.log() + (x - mean).pow(2) / var).sum(-1)


def log_bernoulli_with_logits(x: Tensor, logits: Tensor) -> Tensor:
    """log Bern(x; sigmoid(logits)) = Σ_d [x_d log p_d + (1 - x_d) log(1 - p_d)] = Σ_d [x_d l_d - softplus(l_d)].

    The right-hand form is stable for large |logits| and broadcasts x against leading sample dims.
    """
    return (x * logits - F.softplus(logits)).sum(-1)


def log_mean_exp(x: Tensor, dim: int = 0) -> Tensor:
    """log (1/K) Σ_k exp(x_k) along `dim`, exact for large |x| (logsumexp shifts by the max)."""
    return torch.logsumexp(x, dim) - math.log(x.shape[dim])


def log_normal_mixture(z: Tensor, means: Tensor, vars: Tensor) -> Tensor:
    """log (1/K) Σ_k N(z; means_k, diag(vars_k)) for a uniform mixture.

    z: (..., Z); means, vars: (K, Z). Returns z's leading shape. Dilokthanakul et al. 2016.
    The squared distances come from one matrix product, Σ_d (z_d - m_d)²/v_d = [z², z, 1]·[1/v, -2m/v, Σ m²/v]:
    (N, K) memory instead of (N, K, Z) and several times faster (IWAE-1000 with K = 500); the
    expansion costs ~1e-4 nats in float32 (pass float64 for more).
    """
    prec = vars.reciprocal()  # (K, Z)
    features = torch.cat([z * z, z, torch.ones_like(z[..., :1])], -1).reshape(-1, 2 * z.shape[-1] + 1)  # (N, 2Z+1)
    weights = -0.5 * torch.cat([prec, -2 * means * prec, (means.pow(2) * prec).sum(-1, keepdim=True)], -1)  # (K, 2Z+1)
    log_norm = -0.5 * (z.shape[-1] * LOG_2PI + vars.log().sum(-1))  # (K,)
    per_component = torch.addmm(log_norm, features, weights.T)  # (N, K) = log N(z; means_k, vars_k)
    return log_mean_exp(per_component, dim=-1).view(z.shape[:-1])


def kl_normal(q_mean: Tensor, q_var: Tensor, p_mean: Tensor, p_var: Tensor) -> Tensor:
    """KL(N(q_mean, q_var) || N(p_mean, p_var)) for diagonal Gaussians, summed over the last dim.

    = 1/2 Σ_d [log(p_var/q_var) + (q_var + (q_mean - p_mean)²) / p_var - 1]; Kingma & Welling 2014, App. B.
    """
    return 0.5 * (p_var.log() - q_var.log() + (q_var + (q_mean - p_mean).pow(2)) / p_var - 1).sum(-1)


def kl_categorical(q_logits: Tensor, log_p: Tensor) -> Tensor:
    """KL(Cat(softmax(q_logits)) || Cat(exp(log_p))) = Σ_y q(y) [log q(y) - log p(y)], over the last dim."""
    log_q = F.log_softmax(q_logits, dim=-1)
    return (log_q.exp() * (log_q - log_p)).sum(-1)
