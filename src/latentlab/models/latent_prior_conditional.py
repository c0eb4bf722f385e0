"""A trained conditional VAE with a prior per label fitted post hoc on its codes: model.name = "latent_prior" on
a conditional parent (the CVAE, models/cvae.py).

The parent's encoder q(z|x, y) and decoder p(x|y, z) are loaded frozen from its newest checkpoint; only the
priors p(z|y) are fitted, each on the codes of its label's training images:
    z_n ~ q(z|x_n, y_n), one draw per image each time (x_n, y_n) is batched,
so p(z|y) is fitted to the aggregate posterior of label y, q(z|y) = E_{x|y} q(z|x, y), the p(z|y) that maximises
the conditional ELBO for the fixed encoder and decoder (Hoffman & Johnson 2016 with y held fixed;
models/prior_per_label.py). Each label's prior is of the config's kind (models/latent_prior.py).

Generative model:  y given (or y ~ Uniform{0..Y-1}, as the CVAE samples),  z ~ p_ψ(z|y),  x ~ p(x|y, z)
Bound:             log p(x|y) ≥ log (1/k) Σ_i p(x|y, z_i) p(z_i|y) / q(z_i|x, y),  z_i ~ q(z|x, y)
                   (Burda et al. 2016, eq. 8, with y held fixed; k = 1: the ELBO of Sohn et al. 2015, eq. 4).
The parent's weights are part of this model's checkpoints (never trained), as for an unconditional parent.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from latentlab.models.base import Batch, GenerativeModel
from latentlab.models.latent_prior import ENCODE_CHUNK, LatentPriorConfig, kind_prior, prior_terms
from latentlab.models.prior_per_label import PerLabel
from latentlab.objectives.elbo import iwae_bound
from latentlab.probability import log_normal, sample_gaussian


@runtime_checkable
class ConditionalObservationModel(Protocol):
    def log_px_given_yz(self, x: Tensor, y: Tensor, z: Tensor) -> Tensor:
        """log p(x|y, z) for z (..., B, Z), int labels y (B,): (..., B)."""


class ConditionalLatentPrior(GenerativeModel):
    """The parent's q(z|x, y) and p(x|y, z) with a prior p(z|y) per label fitted on its codes (module docstring).

    Fit:  max_ψ E_{(x, y) ~ data, z ~ q(z|x, y)} log p_ψ(z|y) (the mixtures, by EM per label) or a bound on it
          (the two-stage VAEs), or each label's diffusion loss: p_ψ(z|y) ≈ q(z|y) = E_{x|y} q(z|x, y).
    """

    batch_keys = ("x", "y")

    def __init__(self, config: LatentPriorConfig, x_shape: tuple[int, ...], parent: GenerativeModel):
        """`parent`: the conditional parent run's model with its trained weights (registry.build_model)."""
        super().__init__()
        self.config, self.x_shape, self.parent = config, tuple(x_shape), parent.requires_grad_(False).eval()
        self.n_classes = parent.n_classes
        zeros = torch.zeros(1, *x_shape)
        self.z_dim = parent.encode_given_y(zeros, torch.zeros(1, dtype=torch.long))[0].shape[-1]
        self.prior = PerLabel([kind_prior(config, self.z_dim) for _ in range(self.n_classes)])
        self.register_buffer("fit_s", torch.zeros((), dtype=torch.float64))  # gmm: seconds of the EM fits
        self._codes: tuple[Tensor, Tensor] | None = None

    def train(self, mode: bool = True):
        """Train mode for the priors only: the parent stays in eval mode (frozen)."""
        super().train(mode)
        self.parent.eval()
        return self

    # -- the parent's halves
    @torch.no_grad()
    def encode_draw(self, x: Tensor, y: Tensor) -> Tensor:
        """One draw z ~ q(z|x, y) per image with its int label, (B, Z)."""
        return torch.cat([sample_gaussian(*self.parent.encode_given_y(xb, yb))
                          for xb, yb in zip(x.split(ENCODE_CHUNK), y.split(ENCODE_CHUNK))])

    def encode_given_y(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """The parent's q(z|x, y): mean and variance, each (B, Z)."""
        return self.parent.encode_given_y(x, y)

    def decode_given_y(self, z: Tensor, y: Tensor) -> Tensor:
        """The parent's E[x|y, z], (N, *x_shape)."""
        return self.parent.decode_given_y(z, y)

    def sample_x_given_yz(self, y: Tensor, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The parent's x ~ p(x|y, z), (N, *x_shape)."""
        return self.parent.sample_x_given_yz(y, z, generator)

    @property
    def likelihood(self) -> str:
        return self.parent.likelihood

    def decoder_layers(self):
        """The parent's decoder layers (the report's explorer)."""
        return self.parent.decoder_layers()

    # -- the priors
    def sample_z_given_y(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One z ~ p(z|y_n) per int label y_n of y (N,), (N, Z)."""
        return self.prior.sample(y, generator)

    def log_pz(self, z: Tensor, y: Tensor, k: int = 1) -> Tensor | None:
        """log p(z|y) for z (..., N, Z), labels y (N,): exact for the mixtures, the second stage's IWAE-k estimate
        for the two-stage priors (latent_prior.LatentPrior.log_pz), None for the diffusion priors."""
        if self.config.kind == "gmm":
            return self.prior.log_prob(z, y, lambda prior, zy: prior.log_prob(zy))
        if self.config.kind == "two-stage":
            return self.prior.log_prob(z, y, lambda prior, zy: prior.log_prob_bound(zy, k))
        return None

    def has_bounds(self, x: Tensor, y: Tensor) -> bool:
        """Whether `iwae_under` can bound log p(x|y): the parent has a log p(x|y, z) and q(z|x, y) a density."""
        return (isinstance(self.parent, ConditionalObservationModel)
                and not bool((self.parent.encode_given_y(x[:8], y[:8])[1] == 0).all()))

    @torch.no_grad()
    def iwae_under(self, x: Tensor, k: int, log_pz, y: Tensor) -> Tensor:
        """IWAE-k of log p(x|y) with `log_pz` ((k, B, Z), labels (B,) -> (k, B)) as p(z|y):
        log (1/k) Σ_i p(x|y, z_i) p(z_i|y) / q(z_i|x, y), z_i ~ q(z|x, y); (B,) nats."""
        q_mean, q_var = self.parent.encode_given_y(x, y)
        z = sample_gaussian(q_mean.expand(k, *q_mean.shape), q_var.expand(k, *q_var.shape))  # (k, B, Z)
        return iwae_bound(self.parent.log_px_given_yz(x, y, z), log_pz(z, y), log_normal(z, q_mean, q_var))

    # -- the contract
    def parameter_groups(self) -> dict[str, list]:
        return {"model": list(self.prior.parameters())}

    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        z = self.encode_draw(batch["x"], batch["y"])  # (B, Z), no gradient into the parent
        if self.config.kind == "gmm":
            self._codes = (z, batch["y"])
        return self.prior.loss(z, batch["y"], lambda prior, zy: prior_terms(self.config.kind, prior, zy))

    def after_step(self, phase: str) -> None:
        """gmm: the EM fit of each label's mixture on the codes of its label in this step's batch."""
        if self.config.kind == "gmm" and self._codes is not None:
            t0 = time.perf_counter()
            seed = int(torch.randint(2**31 - 1, ()))  # from the trainer's seeded RNG: resumes and reruns agree
            self.prior.fit(*self._codes, k=self.config.components, select_by_bic=self.config.bic, seed=seed)
            self.fit_s.fill_(time.perf_counter() - t0)
            self._codes = None

    def sample(self, n: int, *, generator: torch.Generator | None = None, y: Tensor | None = None, **cond) -> Tensor:
        """x ~ p(x|y, z), z ~ p(z|y), with the given int labels y (n,) or uniform labels (as the CVAE samples)."""
        if y is None:
            y = torch.randint(self.n_classes, (n,), generator=generator, device=self.fit_s.device)
        return self.sample_x_given_yz(y, self.sample_z_given_y(y, generator), generator)
