"""The model contract: all the trainer, the evaluation and the figures ever call.

A subclass must provide
- `loss(batch, phase)`: a dict with the scalar "loss" to minimise and any named scalar
  terms to log ("nelbo", "kl", "rec", ...), each already averaged over the batch;
- `sample(n, generator=None, **cond)`: n draws x ~ p(x), shaped like a batch's "x".
It may override
- `phases`: the order of optimizer steps in one iteration; a GAN uses
  ("critic",) * n_critic + ("generator",). Each distinct phase gets its own optimizer;
- `parameter_groups()`: the parameters each phase's optimizer steps (default: all, one phase);
- `after_step(phase)`: work after an optimizer step (weight clipping, EMA, ...).

Models never call `.backward()`, never step an optimizer and never move themselves to a
device: the trainer does all three. Optional capabilities are the Protocols below, checked
with `isinstance`. What evaluation, the figures, the explorer and the API need to know about a
model is declared here (the decoder's `likelihood`, the `n_classes` of a conditional decoder or
a classifier, a `PortableDecoder`'s layers), never read from its attributes or its config.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from latentlab.batch import Batch

__all__ = [
    "Batch", "GenerativeModel", "LikelihoodBound", "ConditionalLikelihoodBound", "Encoder", "Decoder",
    "LatentPrior", "FittedPrior", "ConditionalFittedPrior", "Classifier", "ConditionalEncoder", "ConditionalDecoder",
    "PortableDecoder", "NoiseConditionalScore", "Translator",
]


class GenerativeModel(nn.Module):
    """Base class of every latentlab model (see the module docstring for the contract)."""

    phases: tuple[str, ...] = ("model",)
    # what `loss` reads of a batch: ("x", "y") labels (the model then declares n_classes: y in 0..n_classes-1),
    # ("x", "x_b") two domains
    batch_keys: tuple[str, ...] = ("x",)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"model": list(self.parameters())}

    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        raise NotImplementedError

    def after_step(self, phase: str) -> None:
        pass

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        raise NotImplementedError


@runtime_checkable
class LikelihoodBound(Protocol):
    def log_likelihood_bound(self, x: Tensor, k: int) -> Tensor:
        """(B,) lower bound on log p(x) in nats: IWAE-k, or exact where known."""


@runtime_checkable
class Encoder(Protocol):
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(z|x), each (B, Z)."""


@runtime_checkable
class Decoder(Protocol):
    likelihood: str  # the observation model p(x|z): "bernoulli" (logits) or "gaussian" (a mean)

    def decode(self, z: Tensor) -> Tensor:
        """The mean of p(x|z) (pixel probabilities for a Bernoulli decoder), shaped like x."""

    def sample_x_given_z(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw x ~ p(x|z), shaped like x."""


@runtime_checkable
class LatentPrior(Protocol):
    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws z ~ p(z), (n, Z)."""


@runtime_checkable
class FittedPrior(Protocol):
    """A prior p(z) fitted after training on the codes of a parent model, decoded by the parent's decoder
    (models/latent_prior.py)."""

    parent: nn.Module

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws z ~ p(z) of the fitted prior, (n, Z)."""


@runtime_checkable
class ConditionalFittedPrior(Protocol):
    """A prior p(z|y) per label fitted after training on the codes of a conditional parent, decoded by the
    parent's p(x|y, z) (models/latent_prior_conditional.py)."""

    parent: nn.Module

    def sample_z_given_y(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One z ~ p(z|y_n) per int label of y (N,), (N, Z)."""


@runtime_checkable
class Classifier(Protocol):
    n_classes: int

    def classify(self, x: Tensor) -> Tensor:
        """Logits of q(y|x), (B, n_classes)."""


@runtime_checkable
class ConditionalEncoder(Protocol):
    def encode_given_y(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(z|x, y) for int labels y (B,), each (B, Z)."""


@runtime_checkable
class ConditionalDecoder(Protocol):
    n_classes: int
    likelihood: str  # the observation model p(x|y, z): "bernoulli" (logits) or "gaussian" (a mean)

    def decode_given_y(self, z: Tensor, y: Tensor) -> Tensor:
        """The mean of p(x|y, z) for int labels y (N,) and z (N, Z), shaped (N, *x_shape)."""


@runtime_checkable
class PortableDecoder(Protocol):
    """A decoder made of plain layers, which the report's latent-space explorer evaluates in the page."""

    def decoder_layers(self) -> list[nn.Module]:
        """The modules whose composition maps z, or concat(z, one_hot(y)) for a conditional decoder, to
        the decoder's flat output (N, D), in order: the parameters of p(x|z), whose mean E[x|z] follows
        from `likelihood` (sigmoid of logits, or the Gaussian mean itself)."""


@runtime_checkable
class ConditionalLikelihoodBound(Protocol):
    def log_likelihood_bound_given_y(self, x: Tensor, y: Tensor, k: int) -> Tensor:
        """(B,) lower bound on log p(x|y) in nats: IWAE-k."""


@runtime_checkable
class NoiseConditionalScore(Protocol):
    """A model of ∇_x log p_σ(x), p_σ = p_data ⊛ N(0, σ²I), at a ladder of levels `sigmas` (L,)."""

    sigmas: Tensor

    def smoothed_score(self, x: Tensor, level: int) -> Tensor:
        """∇_x log p_σ(x) at σ = sigmas[level], (B, D)."""

    def sample_trajectory(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """The sampler's path of n draws, (S, n, D), from its start to the samples."""


@runtime_checkable
class Translator(Protocol):
    def translate(self, x: Tensor | None = None, x_b: Tensor | None = None) -> Tensor:
        """Images of domain X translated to Y (given x), or of Y to X (given x_b); pixels in [0, 1]."""
