"""A full-covariance Gaussian mixture fitted by EM on a model's codes: the post-hoc prior of Ghosh et al. 2020.

p(z) = Σ_k π_k N(z; μ_k, Σ_k),  Σ_k = L_k L_kᵀ full (Ghosh et al. 2020, "From variational to deterministic
autoencoders", §4, "ex-post density estimation"; pythae's GaussianMixtureSampler fits the same mixture with
scikit-learn's GaussianMixture).

Fitted by expectation-maximisation (Dempster et al. 1977; Bishop 2006, §9.2.2, eqs. 9.23-9.27) in float64,
started from k-means++ centres (Arthur & Vassilvitskii 2007) with a seeded generator, a ridge REG added to
every covariance as scikit-learn's reg_covar does. scikit-learn is not a dependency of latentlab, so the
few lines of EM are written here. K is given, or chosen by BIC = -2 log L + p log N over K = 1..K_max with
p = K - 1 + K·Z + K·Z(Z+1)/2 free parameters (Schwarz 1978).

Every tensor holds K_max components (unused ones have log π = -inf), so a checkpoint holds the fitted
mixture and a resumed or reloaded run has it whatever K the BIC chose. The means are an nn.Parameter only
so that the trainer has something to hand its optimizer; EM, not a gradient step, sets every value.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from latentlab.probability import LOG_2PI

REG = 1e-6  # added to each covariance's diagonal (scikit-learn's reg_covar default)
EM_ITERATIONS, TOLERANCE = 200, 1e-4  # at most; stop when the mean log-likelihood gains less than TOLERANCE


def log_components(z: Tensor, means: Tensor, scale_tril: Tensor) -> Tensor:
    """log N(z_n; μ_k, L_k L_kᵀ) for z (N, Z), means (K, Z), scale_tril (K, Z, Z): returns (N, K)."""
    diff = (z.unsqueeze(0) - means.unsqueeze(1)).transpose(1, 2)  # (K, Z, N)
    solved = torch.linalg.solve_triangular(scale_tril, diff, upper=False)  # L⁻¹ (z - μ), (K, Z, N)
    log_det = scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # ½ log |Σ_k|, (K,)
    return (-0.5 * (z.shape[-1] * LOG_2PI + solved.pow(2).sum(1)) - log_det.unsqueeze(1)).T


def kmeans_pp(z: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeding: each next centre drawn with probability ∝ its squared distance to the nearest chosen."""
    centres = [z[torch.randint(len(z), (1,), generator=generator)].squeeze(0)]
    for _ in range(k - 1):
        d2 = torch.cdist(z, torch.stack(centres)).pow(2).min(1).values  # (N,)
        centres.append(z[torch.multinomial(d2 / d2.sum(), 1, generator=generator)].squeeze(0))
    return torch.stack(centres)


def fit_em(z: Tensor, k: int, seed: int) -> tuple[Tensor, Tensor, Tensor, float]:
    """EM for a K-component full-covariance mixture on z (N, Z), float64: (log π (K,), μ (K, Z), L (K, Z, Z),
    the mean log-likelihood)."""
    z = z.double()
    n, d = z.shape
    eye = torch.eye(d, dtype=z.dtype, device=z.device)
    means = kmeans_pp(z, k, torch.Generator(device=z.device).manual_seed(seed))
    resp = torch.nn.functional.one_hot(torch.cdist(z, means).argmin(1), k).to(z.dtype)  # hard start, (N, K)
    previous = -math.inf
    for _ in range(EM_ITERATIONS):
        nk = resp.sum(0) + 10 * torch.finfo(z.dtype).eps  # M step (Bishop eqs. 9.24-9.26)
        means = resp.T @ z / nk.unsqueeze(1)  # (K, Z)
        diff = z.unsqueeze(0) - means.unsqueeze(1)  # (K, N, Z)
        cov = torch.einsum("kn,kni,knj->kij", resp.T, diff, diff) / nk.view(-1, 1, 1) + REG * eye
        scale_tril, log_pi = torch.linalg.cholesky(cov), (nk / n).log()
        joint = log_components(z, means, scale_tril) + log_pi  # E step (eq. 9.23), (N, K)
        log_px = torch.logsumexp(joint, 1)
        resp = (joint - log_px.unsqueeze(1)).exp()
        mean_ll = float(log_px.mean())
        if mean_ll - previous < TOLERANCE:
            break
        previous = mean_ll
    return log_pi, means, scale_tril, mean_ll


def bic(mean_ll: float, n: int, k: int, d: int) -> float:
    """BIC = -2 log L + p log N, p = K - 1 + K·Z + K·Z(Z+1)/2 (Schwarz 1978)."""
    return -2 * mean_ll * n + (k - 1 + k * d + k * d * (d + 1) // 2) * math.log(n)


class GaussianMixturePrior(nn.Module):
    """p(z) = Σ_k π_k N(z; μ_k, L_k L_kᵀ) with at most `k_max` components, fitted by `fit` (module docstring)."""

    def __init__(self, z_dim: int, k_max: int):
        super().__init__()
        self.register_buffer("log_pi", torch.full((k_max,), -math.inf))
        self.means = nn.Parameter(torch.zeros(k_max, z_dim))  # a parameter for the trainer's sake: EM sets it
        self.register_buffer("scale_tril", torch.eye(z_dim).expand(k_max, z_dim, z_dim).clone())
        self.register_buffer("n_components", torch.zeros((), dtype=torch.long))  # K in use; 0: not fitted
        self.log_pi[0] = 0.0  # before fitting: N(0, I)

    @torch.no_grad()
    def fit(self, z: Tensor, *, k: int, select_by_bic: bool, seed: int) -> dict[str, float]:
        """Fit to codes z (N, Z): K = k, or the K in 1..k of lowest BIC. Returns {"k", "bic", "mean_log_pz"}."""
        tried = {}
        for kk in (range(1, k + 1) if select_by_bic else (k,)):
            fitted = fit_em(z, kk, seed)
            tried[kk] = (bic(fitted[3], len(z), kk, z.shape[1]), fitted)
        best = min(tried, key=lambda kk: tried[kk][0])
        log_pi, means, scale_tril, mean_ll = tried[best][1]
        self.log_pi.fill_(-math.inf)
        self.log_pi[:best], self.means[:best], self.scale_tril[:best] = log_pi, means, scale_tril
        self.n_components.fill_(best)
        return {"k": best, "bic": tried[best][0], "mean_log_pz": mean_ll}

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) for z (..., Z): returns (...)."""
        k = max(int(self.n_components), 1)
        flat = z.reshape(-1, z.shape[-1])
        joint = log_components(flat, self.means[:k], self.scale_tril[:k]) + self.log_pi[:k]  # (N, K)
        return torch.logsumexp(joint, -1).view(z.shape[:-1])

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws: a component k ~ Cat(π), then z = μ_k + L_k ε, ε ~ N(0, I); (n, Z)."""
        k = max(int(self.n_components), 1)
        which = torch.multinomial(self.log_pi[:k].exp(), n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, self.means.shape[1], 1, generator=generator, device=self.means.device)
        return self.means[which] + (self.scale_tril[which] @ eps).squeeze(-1)
