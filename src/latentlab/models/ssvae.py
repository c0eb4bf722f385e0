"""Semi-supervised VAE, model M2 (Kingma et al. 2014), as in the CS236 homework-2 SSVAE.

Generative model:  y ~ p(y) = Cat(1/Y),   z ~ p(z) = N(0, I),   x ~ p(x|y, z) = Bern(x; sigmoid(decoder(z, y)))
Inference model:   q(y|x) = Cat(softmax(classifier(x))),   q(z|x, y) = N(z; μ(x, y), diag σ²(x, y))
Unlabelled x: -ELBO(x) = KL(q(y|x) || p(y)) + Σ_y q(y|x) [KL(q(z|x,y) || p(z)) + Rec(x|y,z)], every
label enumerated exactly, one z per (x, y) (Kingma et al. 2014, eq. 7).
loss = gw·mean -ELBO(x_unlabelled) + cw·CE(q(y|x_labelled), y_labelled); gw = 0 is the supervised
classifier alone (the ELBO is then not computed at all, as in the CS236 starter code).

Batches: "x" unlabelled; "x_labelled", "y_labelled" the labelled stream (data/labelled.py). A batch
without the labelled pair (evaluation, smoke tests) gives the -ELBO terms only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.config import choice
from latentlab.models.base import Batch, GenerativeModel
from latentlab.models.observation import Observation
from latentlab.nn import MLP, encoder_decoder
from latentlab.objectives.elbo import m2_negative_elbo
from latentlab.probability import kl_normal, sample_gaussian


@dataclass(frozen=True)
class SSVAEConfig:
    name: str = "ssvae"
    z_dim: int = 64
    n_classes: int = 10
    net: str = choice("v1", "conv")  # q(z|x,y) and p(x|y,z): the CS236 MLPs, or the conv pair
    classifier_hidden: int = 300  # q(y|x): D -> h -> ReLU -> h -> ReLU -> Y
    gen_weight: float = 1.0  # gw: weight of the unlabelled -ELBO
    class_weight: float = 100.0  # cw: weight of the labelled cross-entropy


class SSVAE(GenerativeModel):
    def __init__(self, config: SSVAEConfig, x_shape: tuple[int, ...]):
        super().__init__()
        self.config, self.x_shape = config, tuple(x_shape)
        self.n_classes = config.n_classes
        self.encoder, self.decoder = encoder_decoder(config.net, self.x_shape, config.z_dim, config.n_classes)
        h = config.classifier_hidden
        self.classifier = MLP([math.prod(self.x_shape), h, h, config.n_classes], activation=nn.ReLU)
        self.observation = Observation("bernoulli", 1.0)
        self.register_buffer("z_prior_mean", torch.zeros(config.z_dim))
        self.register_buffer("z_prior_var", torch.ones(config.z_dim))
        self.register_buffer("log_p_y", torch.full((config.n_classes,), -math.log(config.n_classes)))

    def classify(self, x: Tensor) -> Tensor:
        """Logits of q(y|x), (B, Y)."""
        return self.classifier(x.flatten(1))

    def decode_given_y(self, z: Tensor, y: Tensor) -> Tensor:
        """E[x|y, z]: pixel probabilities, (N, *x_shape)."""
        return self.observation.mean(self.decoder(z, self._one_hot(y))).view(-1, *self.x_shape)

    def _one_hot(self, y: Tensor) -> Tensor:
        return F.one_hot(y, self.n_classes).to(self.z_prior_mean.dtype)

    def negative_elbo_terms(self, x: Tensor) -> dict[str, Tensor]:
        """The enumerated -ELBO and its parts, each (B,): one (Y·B)-row pass through q(z|x,y) and p(x|y,z)."""
        b, n_y = x.shape[0], self.n_classes
        y = torch.arange(n_y, device=x.device).repeat_interleave(b)  # (Y·B,) label-major
        x_rep = x.repeat(n_y, *[1] * (x.dim() - 1))  # (Y·B, ...) label-major copies of x
        q_mean, q_var = self.encoder(x_rep, self._one_hot(y))  # (Y·B, Z)
        z = sample_gaussian(q_mean.view(n_y, b, -1), q_var.view(n_y, b, -1))  # (Y, B, Z)
        params = self.decoder(z.view(n_y * b, -1), self._one_hot(y))  # (Y·B, D)
        rec = -self.observation.log_prob(x_rep.flatten(1), params)  # (Y·B,)
        kl_z = kl_normal(q_mean, q_var, self.z_prior_mean, self.z_prior_var)  # (Y·B,)
        return m2_negative_elbo(self.classify(x), self.log_p_y, kl_z.view(n_y, b), rec.view(n_y, b))

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        gw, cw = self.config.gen_weight, self.config.class_weight
        terms, loss = {}, 0.0
        if gw > 0 or "x_labelled" not in batch:
            terms = {k: v.mean() for k, v in self.negative_elbo_terms(batch["x"]).items()}
            loss = gw * terms["nelbo"]
        if "x_labelled" in batch:
            terms["ce"] = F.cross_entropy(self.classify(batch["x_labelled"]), batch["y_labelled"])
            loss = loss + cw * terms["ce"]
        return {"loss": loss, **terms}

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ p(z) = N(0, I), (n, Z)."""
        return sample_gaussian(self.z_prior_mean.expand(n, -1), self.z_prior_var.expand(n, -1), generator)

    def sample(self, n: int, *, generator: torch.Generator | None = None, y: Tensor | None = None, **cond) -> Tensor:
        """x ~ p(x|y, z), z ~ p(z), with the given int labels y (n,) or y ~ p(y)."""
        if y is None:
            y = torch.randint(self.n_classes, (n,), generator=generator, device=self.z_prior_mean.device)
        params = self.decoder(self.sample_z(n, generator), self._one_hot(y))
        return self.observation.sample(params, generator).view(-1, *self.x_shape)
