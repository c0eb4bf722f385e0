"""Evidence lower bounds: the ELBO and the importance-weighted bound (IWAE).

Every function takes per-example log-densities and returns per-example values (B,);
the model averages over the batch once.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from latentlab.probability import kl_categorical, log_mean_exp


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


def m2_negative_elbo(q_y_logits: Tensor, log_p_y: Tensor, kl_z: Tensor, rec: Tensor) -> dict[str, Tensor]:
    """-ELBO(x) of M2 with y enumerated: KL(q(y|x) || p(y)) + Σ_y q(y|x) [KL(q(z|x,y) || p(z)) + Rec(x|y,z)].

    Kingma et al. 2014, eq. 7. q_y_logits: (B, Y); log_p_y: (Y,); kl_z and rec: (Y, B), one
    value per label (label first, like a sample dimension). Returns (B,) tensors: "nelbo" and
    its parts "kl_y", "kl_z" and "rec" (the last two already weighted by q(y|x)).
    """
    q_y = F.softmax(q_y_logits, dim=-1)  # (B, Y)
    kl_y = kl_categorical(q_y_logits, log_p_y)  # (B,)
    kl_z, rec = (q_y * kl_z.T).sum(-1), (q_y * rec.T).sum(-1)  # (B,) expectations over q(y|x)
    return {"nelbo": kl_y + kl_z + rec, "kl_y": kl_y, "kl_z": kl_z, "rec": rec}
