"""Evidence lower bounds: the ELBO and the importance-weighted bound (IWAE).

Every function takes per-example log-densities (or draws them from a Gaussian q(z|x)) and
returns per-example values (B,); the model averages over the batch once.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Protocol

import torch.nn.functional as F
from torch import Tensor

from latentlab.probability import kl_categorical, log_mean_exp, log_normal, sample_gaussian


class ELBOTerms(NamedTuple):
    """The negative ELBO of each example and its two parts, each (B,): nelbo = rec + kl."""

    nelbo: Tensor  # -ELBO(x) ≥ -log p(x)
    kl: Tensor  # KL(q(z|x) || p(z)), closed form or sampled
    rec: Tensor  # -E_q[log p(x|z)], one sample


class Prior(Protocol):
    """What the bounds need of p(z) (models/priors.py)."""

    def log_prob(self, z: Tensor) -> Tensor: ...

    def kl(self, q_mean: Tensor, q_var: Tensor, z: Tensor) -> Tensor: ...


def iwae_key(k: int) -> str:
    """The name of -IWAE-k (nats per example) in training logs and in evaluation results."""
    return f"-iwae_{k}"


def negative_elbo(rec: Tensor, kl: Tensor, beta: float = 1.0) -> Tensor:
    """-ELBO_β(x) = -E_q[log p(x|z)] + β·KL(q(z|x) || p(z)) = rec + β·kl.

    β = 1 is the ELBO of Kingma & Welling 2014 (eq. 3); β ≠ 1 is Higgins et al. 2017.
    """
    return rec + beta * kl


def iwae_bound(log_px_given_z: Tensor, log_pz: Tensor, log_qz: Tensor) -> Tensor:
    """IWAE_K(x) = log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x). Burda et al. 2016, eq. 8.

    Inputs are (K, B) with the sample dimension first; K = 1 gives the one-sample ELBO
    with the KL estimated by log q(z|x) - log p(z). The bound does not decrease in K.
    """
    log_w = log_px_given_z + log_pz - log_qz  # (K, B) log importance weights
    return log_mean_exp(log_w, dim=0)


def reparameterised_negative_elbo(q_mean: Tensor, q_var: Tensor, log_px_given_z: Callable[[Tensor], Tensor],
                                  prior: Prior) -> ELBOTerms:
    """-ELBO(x) = -log p(x|z) + KL(q(z|x) || p(z)) with one z = q_mean + √q_var·ε (Kingma & Welling 2014, eq. 7).

    q_mean, q_var: (..., B, Z); log_px_given_z maps z (..., B, Z) to (..., B). The KL is the prior's:
    closed form where one exists, else log q(z|x) - log p(z) on the same z.
    """
    z = sample_gaussian(q_mean, q_var)  # (..., B, Z)
    rec = -log_px_given_z(z)  # (..., B)
    kl = prior.kl(q_mean, q_var, z)  # (..., B)
    return ELBOTerms(negative_elbo(rec, kl), kl, rec)


def reparameterised_iwae_bound(q_mean: Tensor, q_var: Tensor, log_px_given_z: Callable[[Tensor], Tensor],
                               prior: Prior, k: int) -> Tensor:
    """IWAE_k(x) with z_1..z_k ~ q(z|x) = N(q_mean, q_var) reparameterised (Burda et al. 2016, eq. 8), (B,).

    q_mean, q_var: (B, Z); log_px_given_z maps z (K, B, Z) to (K, B).
    """
    z = sample_gaussian(q_mean.expand(k, *q_mean.shape), q_var.expand(k, *q_var.shape))  # (K, B, Z)
    log_qz = log_normal(z, q_mean, q_var)  # (K, B)
    return iwae_bound(log_px_given_z(z), prior.log_prob(z), log_qz)


def m2_negative_elbo(q_y_logits: Tensor, log_p_y: Tensor, kl_z: Tensor, rec: Tensor) -> ELBOTerms:
    """-ELBO(x) of M2 with y enumerated: KL(q(y|x) || p(y)) + Σ_y q(y|x) [KL(q(z|x,y) || p(z)) + Rec(x|y,z)].

    Kingma et al. 2014, eq. 7. q_y_logits: (B, Y); log_p_y: (Y,); kl_z and rec: (Y, B), one
    value per label (label first, like a sample dimension). Returns (B,) terms: the whole KL,
    kl = KL(q(y|x) || p(y)) + Σ_y q(y|x) KL(q(z|x,y) || p(z)), and rec weighted by q(y|x).
    """
    q_y = F.softmax(q_y_logits, dim=-1)  # (B, Y)
    kl_y = kl_categorical(q_y_logits, log_p_y)  # (B,)
    kl_z, rec = (q_y * kl_z.T).sum(-1), (q_y * rec.T).sum(-1)  # (B,) expectations over q(y|x)
    kl = kl_y + kl_z  # (B,)
    return ELBOTerms(kl + rec, kl, rec)
