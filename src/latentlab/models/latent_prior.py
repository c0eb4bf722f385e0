"""A trained encoder-decoder with a new prior fitted post hoc on its codes: model.name = "latent_prior".

The parent run's encoder q(z|x) and decoder p(x|z) are loaded frozen from its newest checkpoint; only the
prior p(z) is fitted, on the codes of the parent's own training data:
    z_n ~ q(z|x_n), one draw per image each time x_n is batched,
so the prior is fitted to the aggregate posterior q(z) = E_x q(z|x) itself — the prior that maximises the
ELBO for a fixed encoder and decoder (Hoffman & Johnson 2016, "ELBO surgery"; Tomczak & Welling 2018, §2.2).
The means μ(x) alone would fit a narrower distribution than q(z) (each q(z|x) has its own spread); a draw
per image is also what Ghosh et al. 2020 and pythae's GaussianMixtureSampler fit the mixture on. For an
AE (variance 0) the draw is the code μ(x).

kind = "gmm":       full-covariance Gaussian mixture by EM (models/prior_gmm.py; Ghosh et al. 2020). `prior`
                    fits it on one batch that holds the whole training set, in one iteration.
kind = "two-stage": a second VAE on z with learned output variance γ (models/prior_two_stage.py; Dai & Wipf 2019).
kind = "diffusion": a DDPM with an MLP denoiser on codes scaled to unit variance (models/prior_diffusion.py;
                    Rombach et al. 2022, Vahdat et al. 2021).

A conditional parent (the CVAE: q(z|x, y), p(x|y, z)) gets one prior per label instead, p(z|y) fitted on the
codes of that label's images: models/latent_prior_conditional.py.

Sampling: z ~ p(z) (`sample_z`), then the parent's decoder: x ~ p(x|z). The parent's weights are part of
this model's checkpoints (never trained: no optimizer holds them), so the run keeps the decoder its prior
was fitted for; the parent's run directory is only read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from latentlab.errors import UserError
from latentlab.fields import choice, flag, nonnegative_int, positive_int, probability, text
from latentlab.models.base import Batch, ConditionalEncoder, Decoder, Encoder, GenerativeModel
from latentlab.models.prior_diffusion import DiffusionPrior
from latentlab.models.prior_gmm import GaussianMixturePrior
from latentlab.models.prior_two_stage import TwoStagePrior
from latentlab.objectives.elbo import iwae_bound
from latentlab.probability import log_normal, sample_gaussian

ENCODE_CHUNK = 2_048  # images per encoder call while encoding a batch


@dataclass(frozen=True)
class LatentPriorConfig:
    name: str = choice("latent_prior")
    kind: str = choice("gmm", "two-stage", "diffusion")
    parent: str = text("")  # the parent run's directory
    components: int = positive_int(10)  # gmm: K (with bic: the largest K tried)
    bic: bool = flag(False)  # gmm: choose K in 1..components by BIC
    hidden: int = positive_int(256)  # two-stage and diffusion: width of the MLPs
    layers: int = positive_int(2)  # two-stage: hidden layers of its encoder and decoder
    blocks: int = nonnegative_int(3)  # diffusion: residual layers of the denoiser
    timesteps: int = positive_int(1000)  # diffusion: T
    sampler: str = choice("ancestral", "ddim")  # diffusion
    ddim_steps: int = positive_int(50)  # diffusion: network calls of DDIM (<= timesteps)
    ddim_eta: float = probability(1.0)  # diffusion: DDIM's η (1: the ancestral posterior's variance; 0 drifts here)

    def broken_rules(self):
        """(field, what it accepts) for each rule between fields these values break."""
        if not self.parent:
            yield "parent", "the directory of a trained run with an encoder and a decoder (latentlab prior RUN)"
        if self.kind == "diffusion" and self.sampler == "ddim" and self.ddim_steps > self.timesteps:
            yield "ddim_steps", f"an integer in [1, model.timesteps = {self.timesteps}]"


@runtime_checkable
class ObservationModel(Protocol):
    def log_px_given_z(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) for z (..., B, Z): (..., B)."""


@runtime_checkable
class ConditionalParent(Protocol):
    """What a conditional parent (the CVAE) offers a prior per label (models/latent_prior_conditional.py)."""

    n_classes: int

    def encode_given_y(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x, y): mean and variance, each (B, Z)."""

    def decode_given_y(self, z: Tensor, y: Tensor) -> Tensor:
        """E[x|y, z], (N, *x_shape)."""

    def sample_x_given_yz(self, y: Tensor, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw x ~ p(x|y, z), (N, *x_shape)."""


def check_parent(model: GenerativeModel, path: str, name: str) -> None:
    """A UserError in one line unless the parent model (of model.name `name`, from the run `path`) has an encoder
    q(z|x) and a decoder p(x|z), or is a conditional parent with q(z|x, y) and p(x|y, z) (ConditionalParent)."""
    if isinstance(model, ConditionalEncoder) and not isinstance(model, Encoder):
        if not isinstance(model, ConditionalParent):
            raise UserError(f"model.parent = {path} is a {name} run, whose codes z ~ q(z|x, y) need a label for "
                            "every training image and whose decoder has no x ~ p(x|y, z): fit the prior per "
                            "label on a cvae run, or a prior on an unconditional one (vae, ae, gmvae)")
        return
    if not (isinstance(model, Encoder) and isinstance(model, Decoder)):
        raise UserError(f"model.parent = {path} is a {name} run, which has no encoder q(z|x) and "
                        "decoder p(x|z): a latent prior needs a latent model (vae, ae, gmvae, cvae)")


def kind_prior(config: LatentPriorConfig, z_dim: int) -> nn.Module:
    """The prior of `config.kind` over codes of size `z_dim`, before fitting."""
    if config.kind == "gmm":
        return GaussianMixturePrior(z_dim, config.components)
    if config.kind == "two-stage":
        return TwoStagePrior(z_dim, config.hidden, config.layers)
    return DiffusionPrior(z_dim, timesteps=config.timesteps, hidden=config.hidden, blocks=config.blocks,
                          sampler=config.sampler, ddim_steps=config.ddim_steps, ddim_eta=config.ddim_eta)


def prior_terms(kind: str, prior: nn.Module, z: Tensor) -> dict[str, Tensor]:
    """The loss of a `kind` prior on codes z (B, Z) and its named terms, each averaged over the batch: the
    mixture's -log p(z) before this step's EM fit (after_step), the two-stage -ELBO₂, the diffusion L_simple."""
    if kind == "gmm":
        nll = -prior.log_prob(z).mean()
        return {"loss": nll, "nll_z": nll}
    if kind == "two-stage":
        terms = prior.negative_elbo(z)
        return {"loss": terms["nelbo"], **terms}
    terms = prior.loss(z)
    return {"loss": terms["eps_mse"], **terms}


class LatentPrior(GenerativeModel):
    """The parent's q(z|x) and p(x|z) with a prior p(z) fitted on its codes (the module docstring).

    Generative model:  z ~ p_ψ(z) (the fitted prior),  x ~ p(x|z) (the parent's decoder, frozen)
    Fit:               max_ψ E_{x ~ data, z ~ q(z|x)} log p_ψ(z) (the mixture, by EM) or a bound on it (the
                       two-stage VAE's ELBO), or the diffusion loss on the codes: p_ψ ≈ q(z) = E_x q(z|x),
                       the prior that maximises the ELBO for the parent's q and p(x|z) (Hoffman & Johnson 2016).
    """

    def __init__(self, config: LatentPriorConfig, x_shape: tuple[int, ...], parent: GenerativeModel):
        """`parent`: the parent run's model with its trained weights (registry.build_model loads it)."""
        super().__init__()
        self.config, self.x_shape, self.parent = config, tuple(x_shape), parent.requires_grad_(False).eval()
        self.z_dim = parent.encode(torch.zeros(1, *x_shape))[0].shape[-1]
        self.prior = kind_prior(config, self.z_dim)
        self.register_buffer("fit_s", torch.zeros((), dtype=torch.float64))  # gmm: seconds of the EM fit
        self._codes: Tensor | None = None

    def train(self, mode: bool = True):
        """Train mode for the prior only: the parent stays in eval mode (frozen)."""
        super().train(mode)
        self.parent.eval()
        return self

    # -- the parent's halves
    @torch.no_grad()
    def encode_draw(self, x: Tensor) -> Tensor:
        """One draw z ~ q(z|x) per image (the code μ(x) for an AE), (B, Z)."""
        return torch.cat([sample_gaussian(*self.parent.encode(xb)) for xb in x.split(ENCODE_CHUNK)])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The parent's q(z|x): mean and variance, each (B, Z)."""
        return self.parent.encode(x)

    def decode(self, z: Tensor) -> Tensor:
        """The parent's E[x|z], (N, *x_shape)."""
        return self.parent.decode(z)

    @property
    def likelihood(self) -> str:
        return self.parent.likelihood

    def sample_x_given_z(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.parent.sample_x_given_z(z, generator)

    def decoder_layers(self):
        """The parent's decoder layers (the report's explorer)."""
        return self.parent.decoder_layers()

    # -- the prior
    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws z ~ p(z) of the fitted prior, (n, Z)."""
        return self.prior.sample(n, generator)

    def log_pz(self, z: Tensor, k: int = 1) -> Tensor | None:
        """log p(z) for z (..., Z): exact for the mixture; for the two-stage prior the second stage's IWAE-k
        estimate (its exp is an unbiased estimate of p(z)); None for the diffusion prior (no density)."""
        if self.config.kind == "gmm":
            return self.prior.log_prob(z)
        if self.config.kind == "two-stage":
            return self.prior.log_prob_bound(z, k)
        return None

    def has_bounds(self, x: Tensor) -> bool:
        """Whether `iwae_under` can bound log p(x): the parent has a log p(x|z) and q(z|x) a density (not an AE's)."""
        return isinstance(self.parent, ObservationModel) and not bool((self.parent.encode(x[:8])[1] == 0).all())

    @torch.no_grad()
    def iwae_under(self, x: Tensor, k: int, log_pz) -> Tensor:
        """IWAE-k with `log_pz` (z (k, B, Z) -> (k, B)) as the prior: log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x),
        z_i ~ q(z|x) (Burda et al. 2016, eq. 8; k = 1: the ELBO), (B,) nats."""
        q_mean, q_var = self.parent.encode(x)
        z = sample_gaussian(q_mean.expand(k, *q_mean.shape), q_var.expand(k, *q_var.shape))  # (k, B, Z)
        return iwae_bound(self.parent.log_px_given_z(x, z), log_pz(z), log_normal(z, q_mean, q_var))

    # -- the contract
    def parameter_groups(self) -> dict[str, list]:
        return {"model": list(self.prior.parameters())}

    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        z = self.encode_draw(batch["x"])  # (B, Z), no gradient into the parent
        if self.config.kind == "gmm":
            self._codes = z
        return prior_terms(self.config.kind, self.prior, z)

    def after_step(self, phase: str) -> None:
        """gmm: the EM fit on the codes of this step's batch replaces whatever the optimizer did."""
        if self.config.kind == "gmm" and self._codes is not None:
            t0 = time.perf_counter()
            seed = int(torch.randint(2**31 - 1, ()))  # from the trainer's seeded RNG: resumes and reruns agree
            self.prior.fit(self._codes, k=self.config.components, select_by_bic=self.config.bic, seed=seed)
            self.fit_s.fill_(time.perf_counter() - t0)
            self._codes = None

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        """x ~ p(x|z) through the parent's decoder, z ~ the fitted prior."""
        return self.sample_x_given_z(self.sample_z(n, generator), generator)
