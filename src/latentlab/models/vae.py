"""The variational autoencoder with a Gaussian encoder and a swappable prior; β-VAE and IWAE training."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
from torch import Tensor, nn

from latentlab.errors import UserError
from latentlab.fields import choice, flag, nonnegative, positive, positive_int
from latentlab.models.base import Batch, GenerativeModel
from latentlab.models.observation import Observation
from latentlab.models.priors import StandardNormal, upgrade_old_prior_keys
from latentlab.nn import encoder_decoder
from latentlab.objectives.elbo import (ELBOTerms, iwae_key, negative_elbo, reparameterised_iwae_bound,
                                       reparameterised_negative_elbo)


@dataclass(frozen=True)
class VAEConfig:
    name: str = choice("vae")
    z_dim: int = positive_int(10)
    net: str = choice("v1", "conv")  # v1: the CS236 MLP; conv: a small conv pair
    likelihood: str = choice("bernoulli", "gaussian")
    x_var: float = positive(0.1)  # variance of the Gaussian decoder (its initial value where learned)
    learn_x_var: bool = flag(False)  # Gaussian decoder: learn one variance per dimension of x
    beta: float = nonnegative(1.0)  # weight of the KL term (β-VAE); 1 is the ELBO
    iwae_k: int = positive_int(1)  # samples per x in training: 1 trains the ELBO, k > 1 the IWAE-k bound


class VAE(GenerativeModel):
    """Variational autoencoder (Kingma & Welling 2014), with β (Higgins et al. 2017) and IWAE (Burda et al. 2016).

    Generative model:  z ~ p(z) = N(0, I)  (or the `prior` given),   x ~ p(x|z) = Bern(x; sigmoid(decoder(z)))
                       (likelihood = "bernoulli") or N(x; decoder(z), diag(var)) ("gaussian"; var = x_var·1,
                       or one variance per dimension of x learned with the rest when learn_x_var)
    Inference model:   q(z|x) = N(z; μ(x), diag σ²(x)),  μ, σ² = encoder(x)
    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) ≤ log p(x)   (K&W 2014, eq. 3), one reparameterised z;
    loss = Rec + β·KL with Rec = -log p(x|z); with iwae_k = k > 1 the loss is -IWAE-k (Burda et al., eq. 8).

    The prior is an object with log_prob, sample and kl (models/priors.py): N(0, I) by default, whose KL
    is in closed form (K&W 2014, App. B); the GMVAE passes a trained mixture.
    """

    def __init__(self, config: VAEConfig, x_shape: tuple[int, ...],
                 prior: Callable[[int], nn.Module] = StandardNormal):
        super().__init__()  # config: a VAEConfig, or any with z_dim, net, likelihood and x_var (the GMVAE's)
        self.config, self.x_shape = config, tuple(x_shape)
        self.encoder, self.decoder = encoder_decoder(config.net, self.x_shape, config.z_dim)
        learn_x_var = getattr(config, "learn_x_var", False)  # the GMVAE's config has no such field
        if learn_x_var and config.likelihood != "gaussian":
            raise UserError("model.learn_x_var = true needs model.likelihood = \"gaussian\"")
        self.observation = Observation(config.likelihood, config.x_var, math.prod(self.x_shape), learn_x_var)
        self.prior = prior(config.z_dim)  # built after the networks: their initial draws come first
        self.register_load_state_dict_pre_hook(upgrade_old_prior_keys)

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

    @property
    def likelihood(self) -> str:
        """The observation model p(x|z): "bernoulli" or "gaussian"."""
        return self.observation.likelihood

    def decoder_layers(self) -> list[nn.Module]:
        """The decoder network, whose layers the report's explorer evaluates (PortableDecoder)."""
        return [self.decoder]

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ p(z), (n, Z)."""
        return self.prior.sample(n, generator)

    def sample_x_given_z(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw x ~ p(x|z), (N, *x_shape)."""
        return self.observation.sample(self.decoder(z), generator).view(-1, *self.x_shape)

    # -- bounds
    def negative_elbo_terms(self, x: Tensor) -> ELBOTerms:
        """-ELBO(x), KL and Rec with one reparameterised z ~ q(z|x), each (B,)."""
        return reparameterised_negative_elbo(*self.encode(x), partial(self.log_px_given_z, x), self.prior)

    def log_likelihood_bound(self, x: Tensor, k: int) -> Tensor:
        """IWAE-k lower bound on log p(x), (B,) nats: log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x)."""
        return reparameterised_iwae_bound(*self.encode(x), partial(self.log_px_given_z, x), self.prior, k)

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        x = batch["x"]
        if self.config.iwae_k > 1:
            niwae = -self.log_likelihood_bound(x, self.config.iwae_k).mean()
            return {"loss": niwae, iwae_key(self.config.iwae_k): niwae}
        terms = self.negative_elbo_terms(x)
        nelbo_beta = negative_elbo(terms.rec, terms.kl, self.config.beta).mean()
        kl, rec = terms.kl.mean(), terms.rec.mean()
        logged = {"loss": nelbo_beta, "nelbo": rec + kl, "kl": kl, "rec": rec}
        if self.config.beta != 1.0:
            logged["nelbo_beta"] = nelbo_beta
        return logged

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        """x ~ p(x) by ancestral sampling: z ~ p(z), then x ~ p(x|z)."""
        return self.sample_x_given_z(self.sample_z(n, generator), generator)
