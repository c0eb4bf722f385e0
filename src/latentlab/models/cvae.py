"""The conditional VAE: labels in, style in z."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from latentlab.errors import UserError
from latentlab.fields import choice, positive, positive_int
from latentlab.models.base import Batch, GenerativeModel
from latentlab.models.observation import Observation
from latentlab.models.priors import StandardNormal, upgrade_old_prior_keys
from latentlab.nn import NETWORKS, one_hot
from latentlab.objectives.elbo import ELBOTerms, reparameterised_iwae_bound, reparameterised_negative_elbo


@dataclass(frozen=True)
class CVAEConfig:
    name: str = choice("cvae")
    z_dim: int = positive_int(10)
    n_classes: int = positive_int(10)
    net: str = choice("v1", "conv")  # v1: MLPs x+y -> h -> h -> 2Z and z+y -> h -> h -> D (ELU)
    hidden: int = positive_int(300)  # width of the hidden layers (the SVHN protocol: 500)
    likelihood: str = choice("gaussian", "bernoulli")
    x_var: float = positive(0.1)  # fixed variance of the Gaussian decoder


class CVAE(GenerativeModel):
    """Conditional VAE (Sohn et al. 2015), the CS236 homework-2 "FSVAE".

    Generative model:  z ~ p(z) = N(0, I),   x ~ p(x|y, z) = N(x; decoder(z, y), x_var·I)
                       (or Bern(x; sigmoid(decoder(z, y))) with likelihood = "bernoulli")
    Inference model:   q(z|x, y) = N(z; μ(x, y), diag σ²(x, y)),   y one-hot into the encoder and the decoder
    ELBO(x|y) = E_q[log p(x|y, z)] - KL(q(z|x, y) || p(z)) ≤ log p(x|y)   (Sohn et al. 2015, eq. 4, their x
    and y swapped), with one reparameterised z and the closed-form KL; the loss is -ELBO(x|y).
    IWAE-k bounds log p(x|y) with y held fixed.
    The protocol (SVHN) uses the Gaussian decoder with fixed variance 0.1 on grey/colour values in [0, 1].
    """

    batch_keys = ("x", "y")

    def __init__(self, config: CVAEConfig, x_shape: tuple[int, ...]):
        super().__init__()
        self.config, self.x_shape = config, tuple(x_shape)
        self.n_classes = config.n_classes
        enc, dec = NETWORKS[config.net]
        self.encoder = enc(self.x_shape, config.z_dim, config.n_classes, config.hidden)
        self.decoder = dec(self.x_shape, config.z_dim, config.n_classes, config.hidden)
        self.observation = Observation(config.likelihood, config.x_var)
        self.prior = StandardNormal(config.z_dim)
        self.register_load_state_dict_pre_hook(upgrade_old_prior_keys)

    # -- the two halves of the model
    def encode_given_y(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x, y): mean and variance, each (B, Z)."""
        return self.encoder(x, one_hot(y, self.n_classes, x))

    def log_px_given_yz(self, x: Tensor, y: Tensor, z: Tensor) -> Tensor:
        """log p(x|y, z) for z (..., B, Z), x (B, ...), int labels y (B,): returns (..., B)."""
        return self.observation.log_px_given_z(self.decoder, x, z, one_hot(y, self.n_classes, z))

    def decode_given_y(self, z: Tensor, y: Tensor) -> Tensor:
        """E[x|y, z], (N, *x_shape)."""
        return self.observation.mean(self.decoder(z, one_hot(y, self.n_classes, z))).view(-1, *self.x_shape)

    def sample_x_given_yz(self, y: Tensor, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw x ~ p(x|y, z) for int labels y (N,) and z (N, Z), (N, *x_shape)."""
        params = self.decoder(z, one_hot(y, self.n_classes, z))
        return self.observation.sample(params, generator).view(-1, *self.x_shape)

    @property
    def likelihood(self) -> str:
        """The observation model p(x|y, z): "bernoulli" or "gaussian"."""
        return self.observation.likelihood

    def decoder_layers(self) -> list[nn.Module]:
        """The decoder network, whose layers the report's explorer evaluates (PortableDecoder)."""
        return [self.decoder]

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ p(z) = N(0, I), (n, Z)."""
        return self.prior.sample(n, generator)

    # -- bounds
    def negative_elbo_terms(self, x: Tensor, y: Tensor) -> ELBOTerms:
        """-ELBO(x|y), KL and Rec with one reparameterised z ~ q(z|x, y), each (B,)."""
        log_px = partial(self.log_px_given_yz, x, y)  # z -> log p(x|y, z)
        return reparameterised_negative_elbo(*self.encode_given_y(x, y), log_px, self.prior)

    def log_likelihood_bound_given_y(self, x: Tensor, y: Tensor, k: int) -> Tensor:
        """IWAE-k lower bound on log p(x|y), (B,) nats (Burda et al. 2016 with y held fixed)."""
        log_px = partial(self.log_px_given_yz, x, y)  # z -> log p(x|y, z)
        return reparameterised_iwae_bound(*self.encode_given_y(x, y), log_px, self.prior, k)

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        if "y" not in batch:
            raise UserError("the conditional VAE needs labels: train it on a labelled dataset (mnist, "
                            "fashion_mnist, svhn), whose batches carry \"y\"")
        nelbo, kl, rec = (t.mean() for t in self.negative_elbo_terms(batch["x"], batch["y"]))
        return {"loss": nelbo, "nelbo": nelbo, "kl": kl, "rec": rec}

    def sample(self, n: int, *, generator: torch.Generator | None = None, y: Tensor | None = None, **cond) -> Tensor:
        """x ~ p(x|y, z), z ~ p(z), with the given int labels y (n,) or uniform labels."""
        if y is None:
            y = torch.randint(self.n_classes, (n,), generator=generator, device=self.prior.mean.device)
        return self.sample_x_given_yz(y, self.sample_z(n, generator), generator)
