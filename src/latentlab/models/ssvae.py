"""The semi-supervised VAE M2: a classifier q(y|x) trained with a VAE that enumerates the label."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.fields import choice, nonnegative, positive_int
from latentlab.models.base import Batch, GenerativeModel
from latentlab.models.observation import Observation
from latentlab.models.priors import StandardNormal, upgrade_old_prior_keys
from latentlab.nn import MLP, encoder_decoder, one_hot
from latentlab.objectives.elbo import ELBOTerms, m2_negative_elbo, reparameterised_negative_elbo


@dataclass(frozen=True)
class SSVAEConfig:
    name: str = choice("ssvae")
    z_dim: int = positive_int(64)
    n_classes: int = positive_int(10)
    net: str = choice("v1", "conv")  # q(z|x,y) and p(x|y,z): the CS236 MLPs, or the conv pair
    classifier_hidden: int = positive_int(300)  # q(y|x): D -> h -> ReLU -> h -> ReLU -> Y
    gen_weight: float = nonnegative(1.0)  # gw: weight of the unlabelled -ELBO
    class_weight: float = nonnegative(100.0)  # cw: weight of the labelled cross-entropy


class SSVAE(GenerativeModel):
    """Semi-supervised VAE, model M2 (Kingma et al. 2014), as in the CS236 homework-2 SSVAE.

    Generative model:  y ~ p(y) = Cat(1/Y),   z ~ p(z) = N(0, I),   x ~ p(x|y, z) = Bern(x; sigmoid(decoder(z, y)))
    Inference model:   q(y|x) = Cat(softmax(classifier(x))),   q(z|x, y) = N(z; μ(x, y), diag σ²(x, y))
    Unlabelled x:  -ELBO(x) = KL(q(y|x) || p(y)) + Σ_y q(y|x) [KL(q(z|x,y) || p(z)) + Rec(x|y,z)]
                   (Kingma et al. 2014, eq. 7), every label enumerated exactly, one z per (x, y).
    loss = gw·mean -ELBO(x_unlabelled) + cw·CE(q(y|x_labelled), y_labelled).

    Labelled x enter through the cross-entropy only: Kingma's labelled ELBO term -L(x, y) (eq. 6, part
    of eq. 9's objective) is dropped on purpose, as in the CS236 variant this reproduces. gw = 0 is the
    supervised classifier alone (the ELBO is then not computed at all, as in the CS236 starter code).

    Batches: "x" unlabelled; "x_labelled", "y_labelled" the labelled stream (data/labelled.py). A batch
    without the labelled pair (evaluation, smoke tests) gives the -ELBO terms only.
    """

    def __init__(self, config: SSVAEConfig, x_shape: tuple[int, ...]):
        super().__init__()
        self.config, self.x_shape = config, tuple(x_shape)
        self.n_classes = config.n_classes
        self.encoder, self.decoder = encoder_decoder(config.net, self.x_shape, config.z_dim, config.n_classes)
        h = config.classifier_hidden
        self.classifier = MLP([math.prod(self.x_shape), h, h, config.n_classes], activation=nn.ReLU)
        self.observation = Observation("bernoulli", 1.0)
        self.prior = StandardNormal(config.z_dim)
        self.register_buffer("log_p_y", torch.full((config.n_classes,), -math.log(config.n_classes)))
        self.register_load_state_dict_pre_hook(upgrade_old_prior_keys)

    def classify(self, x: Tensor) -> Tensor:
        """Logits of q(y|x), (B, Y)."""
        return self.classifier(x.flatten(1))

    def encode_given_y(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x, y): mean and variance, each (B, Z)."""
        return self.encoder(x, one_hot(y, self.n_classes, x))

    def decode_given_y(self, z: Tensor, y: Tensor) -> Tensor:
        """E[x|y, z]: pixel probabilities, (N, *x_shape)."""
        return self.observation.mean(self.decoder(z, one_hot(y, self.n_classes, z))).view(-1, *self.x_shape)

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

    def negative_elbo_terms(self, x: Tensor) -> ELBOTerms:
        """The enumerated -ELBO, its whole KL and Rec, each (B,): one (Y·B)-row pass through q(z|x,y) and p(x|y,z)."""
        b, n_y = x.shape[0], self.n_classes
        y = one_hot(torch.arange(n_y, device=x.device).repeat_interleave(b), n_y, x)  # (Y·B, Y) label-major
        x_rep = x.repeat(n_y, *[1] * (x.dim() - 1))  # (Y·B, ...) label-major copies of x
        q_mean, q_var = self.encoder(x_rep, y)  # (Y·B, Z)
        y_per_label = y.view(n_y, b, n_y)  # (Y, B, Y)
        log_px = partial(self.observation.log_px_given_z, self.decoder, x, y=y_per_label)  # z (Y, B, Z) -> (Y, B)
        per_label = reparameterised_negative_elbo(q_mean.view(n_y, b, -1), q_var.view(n_y, b, -1), log_px,
                                                  self.prior)  # (Y, B) terms, the KL of z only
        return m2_negative_elbo(self.classify(x), self.log_p_y, per_label.kl, per_label.rec)

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        gw, cw = self.config.gen_weight, self.config.class_weight
        terms, loss = {}, 0.0
        if gw > 0 or "x_labelled" not in batch:
            terms = {k: v.mean() for k, v in self.negative_elbo_terms(batch["x"])._asdict().items()}
            loss = gw * terms["nelbo"]
        if "x_labelled" in batch:
            terms["ce"] = F.cross_entropy(self.classify(batch["x_labelled"]), batch["y_labelled"])
            loss = loss + cw * terms["ce"]
        return {"loss": loss, **terms}

    def sample(self, n: int, *, generator: torch.Generator | None = None, y: Tensor | None = None, **cond) -> Tensor:
        """x ~ p(x|y, z), z ~ p(z), with the given int labels y (n,) or y ~ p(y)."""
        if y is None:
            y = torch.randint(self.n_classes, (n,), generator=generator, device=self.prior.mean.device)
        z = self.sample_z(n, generator)  # (n, Z)
        params = self.decoder(z, one_hot(y, self.n_classes, z))
        return self.observation.sample(params, generator).view(-1, *self.x_shape)
