"""Evidence lower bounds: the ELBO and the importance-weighted bound (IWAE).

Every function takes per-example log-densities and returns per-example values (B,);
the model averages over the batch once.
"""

from __future__ import annotations

from torch import Tensor

from latentlab.probability import log_mean_exp


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
