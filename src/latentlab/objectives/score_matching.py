"""Score-matching objectives: pure functions of tensors, each averaged over the batch once."""

from __future__ import annotations

from torch import Tensor


def denoising_score_matching(score: Tensor, x_tilde: Tensor, x: Tensor, sigma: Tensor) -> Tensor:
    """ℓ = E[½ λ(σ) ‖s_θ(x̃, σ) + (x̃ - x)/σ²‖²], λ(σ) = σ²; Song & Ermon 2019, eqs. 2 and 5 (Vincent 2011).

    score, x_tilde, x: (B, ...); sigma: (B,) the noise level each x̃ = x + σε was drawn with.
    Summed over the event dims, averaged over the batch; the ladder average of eq. 6 is
    the expectation over the σ drawn per example.
    """
    sigma = sigma.view(-1, *[1] * (x.dim() - 1))  # (B, 1, ...)
    target = -(x_tilde - x) / sigma**2  # ∇_x̃ log N(x̃; x, σ²I)
    return (0.5 * sigma**2 * (score - target).pow(2)).flatten(1).sum(-1).mean()


def eps_prediction_loss(eps_hat: Tensor, eps: Tensor) -> Tensor:
    """L_simple = E ‖ε - ε_θ(√ᾱ_t x_0 + √(1-ᾱ_t) ε, t)‖²; Ho et al. 2020, eq. 14.

    Summed over the event dims (Ho et al. average them; the sum keeps nats-like per-example
    scale and only rescales the learning rate), averaged over the batch.
    """
    return (eps - eps_hat).pow(2).flatten(1).sum(-1).mean()
