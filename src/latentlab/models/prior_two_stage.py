"""The second stage of the two-stage VAE (Dai & Wipf 2019, "Diagnosing and enhancing VAE models", §4):
a small VAE fitted to the codes z of a trained first-stage model, used as its prior.

Generative model:  u ~ N(0, I_Z),  z ~ p(z|u) = N(z; g(u), γ I),  γ one learned scalar (their "learnable γ")
Inference model:   q(u|z) = N(u; μ(z), diag σ²(z))
ELBO₂(z) = E_q[log p(z|u)] - KL(q(u|z) || N(0, I)) ≤ log p(z)   (Kingma & Welling 2014, eq. 3)
Samples: z ~ N(g(u), γ I), u ~ N(0, I): the second stage's own generative model, whose density the bounds
use. Dai & Wipf (§4) take the mean g(u), arguing that γ → 0 as the fit sharpens; at the budgets here γ
stays near 0.6 (z = 10) and 0.9 (z = 2), the second stage uses few of its u dimensions, and g(u) alone
lies on a curve inside the codes (measured: docs/results.md) — the noise √γ ε is the part of z it models
as Gaussian.

Its density is known only through bounds: `log_prob_bound(z, k)` is the IWAE-k estimate of log p(z)
(Burda et al. 2016, eq. 8), whose exponential is an unbiased estimate of p(z) (latent_prior.py uses it
inside the first stage's bound, which stays a lower bound on log p(x)).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from latentlab.nn import MLP, gaussian_head
from latentlab.objectives.elbo import iwae_bound
from latentlab.probability import kl_normal, log_normal, sample_gaussian


class TwoStagePrior(nn.Module):
    """The second-stage VAE over codes of size `z_dim`: MLP encoder and decoder of `layers` hidden layers of
    width `hidden`, u of the same size as z (Dai & Wipf's choice), and log γ learned from log γ = 0."""

    def __init__(self, z_dim: int, hidden: int, layers: int):
        super().__init__()
        widths = [hidden] * layers
        self.encoder = MLP([z_dim, *widths, 2 * z_dim])
        self.decoder = MLP([z_dim, *widths, z_dim])
        self.log_gamma = nn.Parameter(torch.zeros(()))
        self.register_buffer("u_mean", torch.zeros(z_dim), persistent=False)
        self.register_buffer("u_var", torch.ones(z_dim), persistent=False)

    def encode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """q(u|z): mean and variance, each (B, Z)."""
        return gaussian_head(self.encoder(z))

    def log_pz_given_u(self, z: Tensor, u: Tensor) -> Tensor:
        """log N(z; g(u), γ I) for u (..., B, Z): returns (..., B)."""
        mean = self.decoder(u)
        return log_normal(z, mean, self.log_gamma.exp().expand_as(mean))

    def negative_elbo(self, z: Tensor) -> dict[str, Tensor]:
        """-ELBO₂(z) with one reparameterised u, its KL and reconstruction terms, each averaged over the batch."""
        u_mean, u_var = self.encode(z)
        u = sample_gaussian(u_mean, u_var)
        rec = -self.log_pz_given_u(z, u)  # (B,)
        kl = kl_normal(u_mean, u_var, self.u_mean, self.u_var)  # (B,) closed form, K&W 2014 App. B
        return {"nelbo": (rec + kl).mean(), "kl": kl.mean(), "rec": rec.mean(), "gamma": self.log_gamma.exp().detach()}

    def log_prob_bound(self, z: Tensor, k: int = 1) -> Tensor:
        """IWAE-k of the second stage, log (1/k) Σ_i p(z|u_i) N(u_i; 0, I) / q(u_i|z) ≤ log p(z); z (..., Z)
        gives (...). k = 1 is the one-sample ELBO₂."""
        flat = z.reshape(-1, z.shape[-1])
        u_mean, u_var = self.encode(flat)
        u = sample_gaussian(u_mean.expand(k, *u_mean.shape), u_var.expand(k, *u_var.shape))  # (k, N, Z)
        bound = iwae_bound(self.log_pz_given_u(flat, u), log_normal(u, self.u_mean, self.u_var),
                           log_normal(u, u_mean, u_var))
        return bound.view(z.shape[:-1])

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(g(u), γ I), u ~ N(0, I); (n, Z)."""
        u = sample_gaussian(self.u_mean.expand(n, -1), self.u_var.expand(n, -1), generator)
        mean = self.decoder(u)
        return sample_gaussian(mean, self.log_gamma.exp().expand_as(mean), generator)
