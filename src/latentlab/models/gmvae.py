"""VAE with a Gaussian-mixture prior (GMVAE; Dilokthanakul et al. 2016, the CS236 homework-2 variant).

Generative model:  z ~ p(z) = (1/K) Σ_k N(z; μ_k, diag σ²_k),   x ~ p(x|z) = Bern(x; sigmoid(decoder(z)))
Inference model:   q(z|x) = N(z; μ(x), diag σ²(x))
The prior's means and variances are trained: one (1, 2K, Z) parameter initialised randn/√(K·Z),
means = its first K rows, variances = softplus(last K rows) + 1e-8; the weights stay uniform.
KL(q(z|x) || p(z)) has no closed form: -ELBO(x) = Rec + [log q(z|x) - log p(z)] with one z ~ q(z|x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from latentlab.config import choice
from latentlab.models.base import Batch, GenerativeModel
from latentlab.models.observation import Observation
from latentlab.nn import encoder_decoder, gaussian_head
from latentlab.objectives.elbo import iwae_bound, negative_elbo
from latentlab.probability import log_normal, log_normal_mixture, sample_gaussian


@dataclass(frozen=True)
class GMVAEConfig:
    name: str = "gmvae"
    z_dim: int = 10
    k: int = 500  # mixture components of the prior
    net: str = choice("v1", "conv")  # v1: the CS236 MLP; conv: a small conv pair
    likelihood: str = choice("bernoulli", "gaussian")
    x_var: float = 0.1  # fixed variance of the Gaussian decoder


class GMVAE(GenerativeModel):
    def __init__(self, config: GMVAEConfig, x_shape: tuple[int, ...]):
        super().__init__()
        self.config, self.x_shape = config, tuple(x_shape)
        self.encoder, self.decoder = encoder_decoder(config.net, self.x_shape, config.z_dim)
        self.observation = Observation(config.likelihood, config.x_var)
        k, z_dim = config.k, config.z_dim
        self.z_pre = nn.Parameter(torch.randn(1, 2 * k, z_dim) / math.sqrt(k * z_dim))  # (1, 2K, Z)

    # -- the prior
    def prior(self) -> tuple[Tensor, Tensor]:
        """Means and variances of the K components, each (K, Z)."""
        means, var = gaussian_head(self.z_pre[0].T)  # split the 2K rows: (Z, K) each
        return means.T, var.T

    def log_pz(self, z: Tensor) -> Tensor:
        """log p(z) = log (1/K) Σ_k N(z; μ_k, σ²_k) for z (..., Z): returns (...)."""
        return log_normal_mixture(z, *self.prior())

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ p(z): a component k ~ U{1..K}, then z ~ N(μ_k, σ²_k); (n, Z)."""
        means, var = self.prior()
        k = torch.randint(self.config.k, (n,), generator=generator, device=means.device)  # (n,)
        return sample_gaussian(means[k], var[k], generator)

    # -- the two halves of the model
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x): mean and variance, each (B, Z)."""
        return self.encoder(x)

    def log_px_given_z(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) for z of shape (..., B, Z) and x of shape (B, ...): returns (..., B)."""
        return self.observation.log_px_given_z(self.decoder, x, z)

    def decode(self, z: Tensor) -> Tensor:
        """E[x|z] (pixel probabilities for the Bernoulli decoder), shaped (N, *x_shape)."""
        return self.observation.mean(self.decoder(z)).view(-1, *self.x_shape)

    def sample_x_given_z(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.observation.sample(self.decoder(z), generator).view(-1, *self.x_shape)

    # -- bounds
    def negative_elbo_terms(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(-ELBO, KL, Rec) with one z ~ q(z|x); KL = log q(z|x) - log p(z) on that z; each (B,)."""
        q_mean, q_var = self.encode(x)
        z = sample_gaussian(q_mean, q_var)  # (B, Z)
        rec = -self.log_px_given_z(x, z)  # (B,)
        kl = log_normal(z, q_mean, q_var) - self.log_pz(z)  # (B,) one-sample estimate
        return negative_elbo(rec, kl), kl, rec

    def log_likelihood_bound(self, x: Tensor, k: int) -> Tensor:
        """IWAE-k lower bound on log p(x) with the mixture prior, (B,) nats."""
        q_mean, q_var = self.encode(x)
        z = sample_gaussian(q_mean.expand(k, *q_mean.shape), q_var.expand(k, *q_var.shape))  # (K, B, Z)
        return iwae_bound(self.log_px_given_z(x, z), self.log_pz(z), log_normal(z, q_mean, q_var))

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        nelbo, kl, rec = (t.mean() for t in self.negative_elbo_terms(batch["x"]))
        return {"loss": nelbo, "nelbo": nelbo, "kl": kl, "rec": rec}

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        """x ~ p(x) by ancestral sampling: k, then z ~ N(μ_k, σ²_k), then x ~ p(x|z)."""
        return self.sample_x_given_z(self.sample_z(n, generator), generator)
