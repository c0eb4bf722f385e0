"""Probabilistic PCA (Tipping & Bishop 1999): a linear-Gaussian latent-variable model with an exact likelihood.

Generative model:  z ~ N(0, I_q),   x | z ~ N(W z + μ, σ² I_D),   hence   x ~ N(μ, C),  C = W Wᵀ + σ² I_D.
Posterior:         z | x ~ N(M⁻¹ Wᵀ (x − μ), σ² M⁻¹),   M = Wᵀ W + σ² I_q            (T&B 1999, eqs. 2-6).
Maximum likelihood: W = U_q (Λ_q − σ² I)^{1/2},   σ² = mean of the D − q discarded eigenvalues of the
sample covariance S (T&B 1999, eqs. 7-8; the arbitrary rotation R is taken as I).

How it meets the model contract: `fit(x)` sets μ, W, σ² in closed form (what the studies use);
`loss` returns the exact negative log-likelihood, so `latentlab train` can also fit it by gradient
steps from a random start (EM-free); `fit_em` is the EM algorithm of T&B 1999 §3.2. The
likelihood is computed through the q × q matrix M only (Woodbury), never through the D × D C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from latentlab.errors import UserError
from latentlab.fields import choice, positive_int
from latentlab.models.base import Batch, GenerativeModel
from latentlab.probability import LOG_2PI


@dataclass(frozen=True)
class PPCAConfig:
    name: str = choice("ppca")
    z_dim: int = positive_int(10)  # q, the number of principal directions kept


class PPCA(GenerativeModel):
    """Probabilistic PCA (Tipping & Bishop 1999): a linear-Gaussian latent-variable model with an exact likelihood.

    Generative model:  z ~ N(0, I_q),   x | z ~ N(W z + μ, σ² I_D),   hence   x ~ N(μ, C),  C = W Wᵀ + σ² I_D
    Posterior:         z | x ~ N(M⁻¹ Wᵀ (x − μ), σ² M⁻¹),   M = Wᵀ W + σ² I_q                (T&B 1999, eqs. 2-6)
    `fit(x)` sets the maximum-likelihood μ, W, σ² in closed form (eqs. 7-8); `fit_em` is EM (§3.2); `loss`
    is the exact -log p(x), so gradient training also works. log p(x) goes through the q × q matrix M only.
    """

    likelihood = "gaussian"  # p(x|z) = N(Wz + μ, σ²I)

    def __init__(self, config: PPCAConfig, x_shape: tuple[int, ...]):
        super().__init__()
        self.config, self.x_shape = config, tuple(x_shape)
        d = math.prod(self.x_shape)
        if not 0 < config.z_dim < d:
            raise UserError(f"model.z_dim = {config.z_dim}: P-PCA needs 0 < z_dim < {d} (the data dimension)")
        self.mu = nn.Parameter(torch.zeros(d))
        self.W = nn.Parameter(0.01 * torch.randn(d, config.z_dim))  # (D, q); a gradient fit starts here
        self.log_sigma2 = nn.Parameter(torch.zeros(()))

    @property
    def sigma2(self) -> Tensor:
        return self.log_sigma2.exp()

    # -- fitting
    @torch.no_grad()
    def fit(self, x: Tensor) -> PPCA:
        """Set μ, W, σ² to the closed-form maximum-likelihood values for the data x (N, ...)."""
        mu, W, sigma2 = ppca_ml(x.flatten(1), self.config.z_dim)
        self.mu.copy_(mu)
        self.W.copy_(W)
        self.log_sigma2.fill_(math.log(sigma2))
        return self

    # -- the exact density and the posterior
    def _m_cholesky(self) -> Tensor:
        """Cholesky factor L of M = WᵀW + σ² I_q, (q, q)."""
        eye = torch.eye(self.config.z_dim, dtype=self.W.dtype, device=self.W.device)
        return torch.linalg.cholesky(self.W.T @ self.W + self.sigma2 * eye)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """p(z|x): mean M⁻¹Wᵀ(x − μ), (B, q), and the covariance σ²M⁻¹ shared by every x, (q, q)."""
        L = self._m_cholesky()
        e = x.flatten(1) - self.mu  # (B, D)
        mean = torch.cholesky_solve((e @ self.W).T, L).T  # (B, q)
        return mean, self.sigma2 * torch.cholesky_inverse(L)

    def log_prob(self, x: Tensor) -> Tensor:
        """log N(x; μ, WWᵀ + σ²I), (B,) nats; T&B 1999 eq. 4, through M alone.

        log|C| = (D − q) log σ² + log|M|, and the quadratic form is written as a sum of squares,
        (x−μ)ᵀC⁻¹(x−μ) = ‖x − μ − W m‖²/σ² + ‖m‖² with m the posterior mean (the minimum over z
        of ‖x − μ − Wz‖²/σ² + ‖z‖²), which cannot cancel catastrophically.
        """
        d, q = self.mu.numel(), self.config.z_dim
        L = self._m_cholesky()
        e = x.flatten(1) - self.mu  # (B, D)
        m = torch.cholesky_solve((e @ self.W).T, L).T  # (B, q) posterior mean
        quad = (e - m @ self.W.T).pow(2).sum(-1) / self.sigma2 + m.pow(2).sum(-1)  # (B,)
        log_det = (d - q) * self.log_sigma2 + 2 * L.diagonal().log().sum()
        return -0.5 * (d * LOG_2PI + log_det + quad)

    def log_likelihood_bound(self, x: Tensor, k: int) -> Tensor:
        """The exact log p(x), (B,) nats: no bound is needed, so k is ignored."""
        return self.log_prob(x)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The posterior mean and the diagonal of the posterior covariance σ²M⁻¹, each (B, q)."""
        mean, cov = self.posterior(x)
        return mean, cov.diagonal().expand_as(mean)

    def decode(self, z: Tensor) -> Tensor:
        """E[x|z] = Wz + μ, shaped (N, *x_shape)."""
        return (z @ self.W.T + self.mu).view(-1, *self.x_shape)

    def decoder_layers(self) -> list[nn.Module]:
        """E[x|z] = Wz + μ as one linear layer (T&B 1999, eq. 2), for the report's explorer (PortableDecoder)."""
        linear = nn.utils.skip_init(nn.Linear, self.config.z_dim, self.mu.numel(), device=self.W.device,
                                    dtype=self.W.dtype)  # no initial draw
        with torch.no_grad():
            linear.weight.copy_(self.W)  # (D, q)
            linear.bias.copy_(self.mu)
        return [linear]

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        nll = -self.log_prob(batch["x"]).mean()
        return {"loss": nll, "nll": nll}

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I_q), (n, q)."""
        return torch.randn(n, self.config.z_dim, generator=generator, device=self.W.device, dtype=self.W.dtype)

    def sample_x_given_z(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x = Wz + μ + σε, ε ~ N(0, I_D)."""
        mean = self.decode(z)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + self.sigma2.sqrt() * eps

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        """x ~ N(μ, WWᵀ + σ²I) by ancestral sampling."""
        return self.sample_x_given_z(self.sample_z(n, generator), generator)


# ----------------------------------------------------------------------------- fitting


def _covariance(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (D,) and maximum-likelihood covariance S = (1/N) Σ (x − x̄)(x − x̄)ᵀ (D, D), in float64."""
    x = x.double()
    mu = x.mean(0)
    e = x - mu
    return mu, e.T @ e / len(x)


def ppca_ml(x: Tensor, q: int) -> tuple[Tensor, Tensor, float]:
    """Closed-form ML (μ, W, σ²) for flat data x (N, D); T&B 1999 eqs. 7-8, computed in float64."""
    mu, S = _covariance(x)
    lam, U = torch.linalg.eigh(S)  # ascending
    lam, U = lam.flip(0).clamp_min(0), U.flip(1)
    sigma2 = float(lam[q:].mean())
    if not sigma2 > 1e-12 * float(lam[0]):  # zero up to rounding
        raise UserError(f"P-PCA: the data lie in a {q}-dimensional subspace (σ² = 0); lower model.z_dim")
    W = U[:, :q] * (lam[:q] - sigma2).clamp_min(0).sqrt()  # (D, q)
    return mu.to(x.dtype), W.to(x.dtype), sigma2


def mean_log_likelihood(S: Tensor, W: Tensor, sigma2: float) -> float:
    """(1/N) log p(X) = −½ (D log 2π + log|C| + tr(C⁻¹S)) at the ML mean; T&B 1999 eq. 4, via M (q × q)."""
    d, q = W.shape
    M = W.T @ W + sigma2 * torch.eye(q, dtype=W.dtype)
    L = torch.linalg.cholesky(M)
    SW = S @ W  # (D, q)
    trace = (S.trace() - torch.cholesky_solve(W.T @ SW, L).trace()) / sigma2  # tr(C⁻¹S), C⁻¹ = (I − WM⁻¹Wᵀ)/σ²
    log_det = (d - q) * math.log(sigma2) + 2 * L.diagonal().log().sum()
    return float(-0.5 * (d * LOG_2PI + log_det + trace))


def fit_em(x: Tensor, q: int, *, iterations: int = 10_000, tol: float = 1e-10,
           generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, float, list[float]]:
    """EM for P-PCA from a random start; T&B 1999 §3.2, the E and M steps combined:

    W ← S W (σ² I + M⁻¹ Wᵀ S W)⁻¹,   σ² ← (1/D) tr(S − S W M⁻¹ W_newᵀ).
    Returns (μ, W, σ², the mean log-likelihood after each iteration); stops when it rises by < tol.
    """
    mu, S = _covariance(x.flatten(1))
    d = S.shape[0]
    W = torch.randn(d, q, generator=generator, dtype=torch.float64)
    sigma2 = float(S.trace()) / d
    eye = torch.eye(q, dtype=torch.float64)
    history: list[float] = []
    for _ in range(iterations):
        SW = S @ W  # (D, q)
        M_inv = torch.linalg.inv(W.T @ W + sigma2 * eye)
        W_new = SW @ torch.linalg.inv(sigma2 * eye + M_inv @ W.T @ SW)
        sigma2 = float((S.trace() - (SW @ M_inv @ W_new.T).trace()) / d)
        W = W_new
        history.append(mean_log_likelihood(S, W, sigma2))
        if len(history) > 1 and history[-1] - history[-2] < tol:
            break
    return mu.to(x.dtype), W.to(x.dtype), sigma2, history
