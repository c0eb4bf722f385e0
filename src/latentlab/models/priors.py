"""Priors p(z) over a VAE's latent: the standard normal and a trainable Gaussian mixture.

Each prior gives `log_prob(z)` (nats, summed over Z), `sample(n, generator)` and `kl(q_mean, q_var, z)`,
the KL term of the ELBO for a diagonal Gaussian q(z|x): in closed form where one exists, else the
one-sample estimate log q(z|x) - log p(z) at the reparameterised z the ELBO already drew.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.probability import kl_normal, log_normal, log_normal_mixture, sample_gaussian


class StandardNormal(nn.Module):
    """p(z) = N(z; 0, I_Z). Its mean and variance are constants, not saved in checkpoints."""

    def __init__(self, z_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(z_dim), persistent=False)
        self.register_buffer("var", torch.ones(z_dim), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        """log N(z; 0, I) for z (..., Z): returns (...)."""
        return log_normal(z, self.mean, self.var)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws z ~ N(0, I), (n, Z)."""
        return sample_gaussian(self.mean.expand(n, -1), self.var.expand(n, -1), generator)

    def kl(self, q_mean: Tensor, q_var: Tensor, z: Tensor) -> Tensor:
        """KL(N(q_mean, q_var) || N(0, I)) in closed form (z unused), (B,). Kingma & Welling 2014, App. B."""
        return kl_normal(q_mean, q_var, self.mean, self.var)


class Mixture(nn.Module):
    """p(z) = (1/K) Σ_k N(z; μ_k, diag σ²_k), uniform weights; μ_k and σ²_k are trained.

    Dilokthanakul et al. 2016, as parametrised by the CS236 homework-2 GMVAE: one (2, K, Z)
    parameter `means_and_raw_var` drawn randn/√(K·Z); μ_k = its row 0, σ²_k = softplus(row 1) + 1e-8.
    """

    def __init__(self, k: int, z_dim: int):
        super().__init__()
        self.means_and_raw_var = nn.Parameter(torch.randn(2, k, z_dim) / math.sqrt(k * z_dim))  # (2, K, Z)

    @property
    def k(self) -> int:
        return self.means_and_raw_var.shape[1]

    def components(self) -> tuple[Tensor, Tensor]:
        """The components' means μ_k and variances σ²_k, each (K, Z)."""
        means, raw_var = self.means_and_raw_var
        return means, F.softplus(raw_var) + 1e-8

    def log_prob(self, z: Tensor) -> Tensor:
        """log (1/K) Σ_k N(z; μ_k, σ²_k) for z (..., Z): returns (...)."""
        return log_normal_mixture(z, *self.components())

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws: a component k ~ U{1..K}, then z ~ N(μ_k, σ²_k); (n, Z)."""
        means, var = self.components()
        k = torch.randint(self.k, (n,), generator=generator, device=means.device)  # (n,)
        return sample_gaussian(means[k], var[k], generator)

    def kl(self, q_mean: Tensor, q_var: Tensor, z: Tensor) -> Tensor:
        """KL(q(z|x) || p(z)) has no closed form: the one-sample estimate log q(z|x) - log p(z) at z, (B,)."""
        return log_normal(z, q_mean, q_var) - self.log_prob(z)


def upgrade_old_prior_keys(module: nn.Module, state_dict: dict, prefix: str, *_) -> None:
    """Load checkpoints written before the prior was a module (a `register_load_state_dict_pre_hook`):
    the N(0, I) buffers `z_prior_mean`, `z_prior_var` are no longer saved, and the GMVAE's
    (1, 2K, Z) `z_pre` is now the (2, K, Z) `prior.means_and_raw_var` (the same numbers)."""
    for name in ("z_prior_mean", "z_prior_var"):
        state_dict.pop(prefix + name, None)
    if prefix + "z_pre" in state_dict:
        z_pre = state_dict.pop(prefix + "z_pre")  # (1, 2K, Z)
        state_dict[prefix + "prior.means_and_raw_var"] = z_pre.reshape(2, -1, z_pre.shape[-1])
