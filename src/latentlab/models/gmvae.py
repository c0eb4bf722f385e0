"""The VAE with a trained Gaussian-mixture prior (GMVAE)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from torch import Tensor

from latentlab.fields import choice, positive, positive_int
from latentlab.models.base import Batch
from latentlab.models.priors import Mixture
from latentlab.models.vae import VAE


@dataclass(frozen=True)
class GMVAEConfig:
    name: str = choice("gmvae")
    z_dim: int = positive_int(10)
    k: int = positive_int(500)  # mixture components of the prior
    net: str = choice("v1", "conv")  # v1: the CS236 MLP; conv: a small conv pair
    likelihood: str = choice("bernoulli", "gaussian")
    x_var: float = positive(0.1)  # fixed variance of the Gaussian decoder


class GMVAE(VAE):
    """VAE with a Gaussian-mixture prior (Dilokthanakul et al. 2016, the CS236 homework-2 variant).

    Generative model:  z ~ p(z) = (1/K) Σ_k N(z; μ_k, diag σ²_k),   x ~ p(x|z) = Bern(x; sigmoid(decoder(z)))
    Inference model:   q(z|x) = N(z; μ(x), diag σ²(x))
    The prior's means and variances are trained, its weights stay uniform (priors.Mixture). KL(q(z|x) || p(z))
    has no closed form: -ELBO(x) = Rec + [log q(z|x) - log p(z)] on one z ~ q(z|x); the loss is that -ELBO.
    Everything else (encoder, decoder, IWAE-k) is the VAE's.
    """

    def __init__(self, config: GMVAEConfig, x_shape: tuple[int, ...]):
        super().__init__(config, x_shape, prior=partial(Mixture, config.k))

    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        nelbo, kl, rec = (t.mean() for t in self.negative_elbo_terms(batch["x"]))
        return {"loss": nelbo, "nelbo": nelbo, "kl": kl, "rec": rec}
