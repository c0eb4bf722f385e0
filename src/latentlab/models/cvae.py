"""Conditional VAE (Sohn et al. 2015), the CS236 homework-2 "FSVAE": labels in, style in z.

Generative model:  z ~ p(z) = N(0, I),   x ~ p(x|y, z) = N(x; μ(z, y), x_var·I)  (or Bern(x; sigmoid(decoder(z, y))))
Inference model:   q(z|x, y) = N(z; μ(x, y), diag σ²(x, y)),   y one-hot into the encoder and the decoder
ELBO(x|y) = E_q[log p(x|y, z)] - KL(q(z|x, y) || p(z)) ≤ log p(x|y).
The protocol (SVHN) uses the Gaussian decoder with fixed variance 0.1 on grey/colour values in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from latentlab.config import choice
from latentlab.errors import UserError
from latentlab.models.base import Batch, GenerativeModel
from latentlab.models.observation import Observation
from latentlab.nn import NETWORKS
from latentlab.objectives.elbo import iwae_bound, negative_elbo
from latentlab.probability import kl_normal, log_normal, sample_gaussian


@dataclass(frozen=True)
class CVAEConfig:
    name: str = "cvae"
    z_dim: int = 10
    n_classes: int = 10
    net: str = choice("v1", "conv")  # v1: MLPs x+y -> h -> h -> 2Z and z+y -> h -> h -> D (ELU)
    hidden: int = 300  # width of the hidden layers (the SVHN protocol: 500)
    likelihood: str = choice("gaussian", "bernoulli")
    x_var: float = 0.1  # fixed variance of the Gaussian decoder


class CVAE(GenerativeModel):
    def __init__(self, config: CVAEConfig, x_shape: tuple[int, ...]):
        super().__init__()
        self.config, self.x_shape = config, tuple(x_shape)
        self.n_classes = config.n_classes
        enc, dec = NETWORKS[config.net]
        self.encoder = enc(self.x_shape, config.z_dim, config.n_classes, config.hidden)
        self.decoder = dec(self.x_shape, config.z_dim, config.n_classes, config.hidden)
        self.observation = Observation(config.likelihood, config.x_var)
        self.register_buffer("z_prior_mean", torch.zeros(config.z_dim))
        self.register_buffer("z_prior_var", torch.ones(config.z_dim))

    def _one_hot(self, y: Tensor) -> Tensor:
        return F.one_hot(y, self.n_classes).to(self.z_prior_mean.dtype)

    # -- the two halves of the model
    def encode_given_y(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x, y): mean and variance, each (B, Z)."""
        return self.encoder(x, self._one_hot(y))

    def log_px_given_yz(self, x: Tensor, y: Tensor, z: Tensor) -> Tensor:
        """log p(x|y, z) for z (..., B, Z), x (B, ...), int labels y (B,): returns (..., B)."""
        y_rep = self._one_hot(y).expand(*z.shape[:-1], -1)  # (..., B, Y)
        params = self.decoder(z.reshape(-1, z.shape[-1]), y_rep.reshape(-1, self.n_classes))
        return self.observation.log_prob(x.flatten(1), params.view(*z.shape[:-1], -1))

    def decode_given_y(self, z: Tensor, y: Tensor) -> Tensor:
        """E[x|y, z], (N, *x_shape)."""
        return self.observation.mean(self.decoder(z, self._one_hot(y))).view(-1, *self.x_shape)

    # -- bounds
    def negative_elbo_terms(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(-ELBO(x|y), KL, Rec) with one reparameterised z and the closed-form KL; each (B,)."""
        q_mean, q_var = self.encode_given_y(x, y)
        z = sample_gaussian(q_mean, q_var)  # (B, Z)
        rec = -self.log_px_given_yz(x, y, z)  # (B,)
        kl = kl_normal(q_mean, q_var, self.z_prior_mean, self.z_prior_var)  # (B,)
        return negative_elbo(rec, kl), kl, rec

    def log_likelihood_bound_given_y(self, x: Tensor, y: Tensor, k: int) -> Tensor:
        """IWAE-k lower bound on log p(x|y), (B,) nats (Burda et al. 2016 with y held fixed)."""
        q_mean, q_var = self.encode_given_y(x, y)
        z = sample_gaussian(q_mean.expand(k, *q_mean.shape), q_var.expand(k, *q_var.shape))  # (K, B, Z)
        log_pz = log_normal(z, self.z_prior_mean, self.z_prior_var)  # (K, B)
        return iwae_bound(self.log_px_given_yz(x, y, z), log_pz, log_normal(z, q_mean, q_var))

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        if "y" not in batch:
            raise UserError("the conditional VAE needs labels: train it on a labelled dataset (mnist, "
                            "fashion_mnist, svhn), whose batches carry \"y\"")
        nelbo, kl, rec = (t.mean() for t in self.negative_elbo_terms(batch["x"], batch["y"]))
        return {"loss": nelbo, "nelbo": nelbo, "kl": kl, "rec": rec}

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ p(z) = N(0, I), (n, Z)."""
        return sample_gaussian(self.z_prior_mean.expand(n, -1), self.z_prior_var.expand(n, -1), generator)

    def sample(self, n: int, *, generator: torch.Generator | None = None, y: Tensor | None = None, **cond) -> Tensor:
        """x ~ p(x|y, z), z ~ p(z), with the given int labels y (n,) or uniform labels."""
        if y is None:
            y = torch.randint(self.n_classes, (n,), generator=generator, device=self.z_prior_mean.device)
        params = self.decoder(self.sample_z(n, generator), self._one_hot(y))
        return self.observation.sample(params, generator).view(-1, *self.x_shape)
