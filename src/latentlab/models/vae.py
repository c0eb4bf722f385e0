"""Variational autoencoder (Kingma & Welling 2014), with β (Higgins et al. 2017) and IWAE (Burda et al. 2016).

Generative model:  z ~ p(z) = N(0, I),   x ~ p(x|z) = Bern(x; sigmoid(decoder(z)))  (or N(decoder(z), x_var·I))
Inference model:   q(z|x) = N(z; μ(x), diag σ²(x))
ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) ≤ log p(x);   loss = Rec + β·KL, Rec = -E_q[log p(x|z)].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from latentlab.config import choice
from latentlab.models.base import Batch, GenerativeModel
from latentlab.models.observation import Observation
from latentlab.nn import encoder_decoder
from latentlab.objectives.elbo import iwae_bound, negative_elbo
from latentlab.probability import kl_normal, log_normal, sample_gaussian


@dataclass(frozen=True)
class VAEConfig:
    name: str = "vae"
    z_dim: int = 10
    net: str = choice("v1", "conv")  # v1: the CS236 MLP; conv: a small conv pair
    likelihood: str = choice("bernoulli", "gaussian")
    x_var: float = 0.1  # fixed variance of the Gaussian decoder
    beta: float = 1.0  # weight of the KL term (β-VAE); 1 is the ELBO
    iwae_k: int = 1  # samples per x in training: 1 trains the ELBO, k > 1 the IWAE-k bound


class VAE(GenerativeModel):
    def __init__(self, config: VAEConfig, x_shape: tuple[int, ...]):
        super().__init__()
        self.config, self.x_shape = config, tuple(x_shape)
        self.encoder, self.decoder = encoder_decoder(config.net, self.x_shape, config.z_dim)
        self.observation = Observation(config.likelihood, config.x_var)
        self.register_buffer("z_prior_mean", torch.zeros(config.z_dim))
        self.register_buffer("z_prior_var", torch.ones(config.z_dim))

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

    # -- bounds
    def negative_elbo_terms(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(Rec, KL) with one reparameterised sample, and -ELBO_β = Rec + β·KL; each (B,)."""
        q_mean, q_var = self.encode(x)
        z = sample_gaussian(q_mean, q_var)  # (B, Z)
        rec = -self.log_px_given_z(x, z)  # (B,)
        kl = kl_normal(q_mean, q_var, self.z_prior_mean, self.z_prior_var)  # (B,) closed form
        return negative_elbo(rec, kl, self.config.beta), kl, rec

    def log_likelihood_bound(self, x: Tensor, k: int) -> Tensor:
        """IWAE-k lower bound on log p(x), (B,) nats; the KL part is the sampled log q - log p."""
        q_mean, q_var = self.encode(x)
        z = sample_gaussian(q_mean.expand(k, *q_mean.shape), q_var.expand(k, *q_var.shape))  # (K, B, Z)
        log_qz = log_normal(z, q_mean, q_var)  # (K, B)
        log_pz = log_normal(z, self.z_prior_mean, self.z_prior_var)  # (K, B)
        return iwae_bound(self.log_px_given_z(x, z), log_pz, log_qz)

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        x = batch["x"]
        if self.config.iwae_k > 1:
            niwae = -self.log_likelihood_bound(x, self.config.iwae_k).mean()
            return {"loss": niwae, f"niwae_{self.config.iwae_k}": niwae}
        nelbo_beta, kl, rec = (t.mean() for t in self.negative_elbo_terms(x))
        terms = {"loss": nelbo_beta, "nelbo": rec + kl, "kl": kl, "rec": rec}
        if self.config.beta != 1.0:
            terms["nelbo_beta"] = nelbo_beta
        return terms

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ p(z) = N(0, I), (n, Z)."""
        return sample_gaussian(self.z_prior_mean.expand(n, -1), self.z_prior_var.expand(n, -1), generator)

    def sample_x_given_z(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.observation.sample(self.decoder(z), generator).view(-1, *self.x_shape)

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        """x ~ p(x) by ancestral sampling: z ~ p(z), then x ~ p(x|z)."""
        return self.sample_x_given_z(self.sample_z(n, generator), generator)
