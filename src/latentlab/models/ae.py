"""The plain autoencoder: the VAE's networks trained on reconstruction only."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from latentlab.fields import choice, positive, positive_int
from latentlab.models.base import Batch, GenerativeModel
from latentlab.models.observation import Observation
from latentlab.models.priors import StandardNormal
from latentlab.nn import encoder_decoder


@dataclass(frozen=True)
class AEConfig:
    name: str = choice("ae")
    z_dim: int = positive_int(10)
    net: str = choice("v1", "conv")
    likelihood: str = choice("bernoulli", "gaussian")
    x_var: float = positive(0.1)


class AE(GenerativeModel):
    """Autoencoder: a deterministic code z = μ(x) and the VAE's decoder (Hinton & Salakhutdinov 2006).

    Code:     z = μ(x), the mean head of the VAE's encoder
    Decoder:  p(x|z) = Bern(x; sigmoid(decoder(z)))  (or N(x; decoder(z), x_var·I))
    loss = Rec = -log p(x | z = μ(x)): the binary cross-entropy for the Bernoulli decoder, summed over pixels.
    No sampling in the latent and no prior term, so nothing pulls the codes towards N(0, I):
    `sample` decodes z ~ N(0, I) all the same, to show what that costs (docs/protocols.md, section B (b)).
    """

    def __init__(self, config: AEConfig, x_shape: tuple[int, ...]):
        super().__init__()
        self.config, self.x_shape = config, tuple(x_shape)
        self.encoder, self.decoder = encoder_decoder(config.net, self.x_shape, config.z_dim)
        self.observation = Observation(config.likelihood, config.x_var)
        self.prior = StandardNormal(config.z_dim)  # only to decode draws: the AE was never fitted to it

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The code μ(x) (the encoder's mean head) with variance 0: the AE is deterministic."""
        z, _ = self.encoder(x)
        return z, torch.zeros_like(z)

    def decode(self, z: Tensor) -> Tensor:
        return self.observation.mean(self.decoder(z)).view(-1, *self.x_shape)

    @property
    def likelihood(self) -> str:
        """The observation model p(x|z): "bernoulli" or "gaussian"."""
        return self.observation.likelihood

    def decoder_layers(self) -> list[nn.Module]:
        """The decoder network, whose layers the report's explorer evaluates (PortableDecoder)."""
        return [self.decoder]

    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        x = batch["x"]
        z, _ = self.encode(x)
        rec = -self.observation.log_prob(x.flatten(1), self.decoder(z)).mean()
        return {"loss": rec, "rec": rec}

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I), (n, Z): the AE was never fitted to a prior (the point of docs/protocols.md, section B (b))."""
        return self.prior.sample(n, generator)

    def sample_x_given_z(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.observation.sample(self.decoder(z), generator).view(-1, *self.x_shape)

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        """Decode z ~ N(0, I) and draw x ~ p(x|z) — not a sample of any fitted density."""
        return self.sample_x_given_z(self.sample_z(n, generator), generator)
