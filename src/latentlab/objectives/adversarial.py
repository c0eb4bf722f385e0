"""Adversarial objectives: pure functions of discriminator logits or critic outputs.

Each takes per-example outputs (B,) and returns one scalar, averaged over the batch once.
D(x) = sigmoid(logits) for the log losses; log D = -softplus(-l) and log(1 - D) = -softplus(l)
keep them finite where D saturates. `gradient_penalty` is the one term that needs the
critic itself: it differentiates the critic at points between real and generated data.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def minimax_value(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """V(D, G) = E_x log D(x) + E_z log(1 - D(G(z))). Goodfellow et al. 2014, eq. 1.

    At the optimal D for a fixed G it equals 2·JS(p_data ‖ p_g) - log 4 (Theorem 1).
    """
    return -F.softplus(-real_logits).mean() - F.softplus(fake_logits).mean()


def minimax_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-V(D, G) = -E_x log D(x) - E_z log(1 - D(G(z))): D ascends V. Goodfellow et al. 2014, eq. 1."""
    return -minimax_value(real_logits, fake_logits)


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    """E_z log(1 - D(G(z))): G descends V (saturates where D rejects G's samples). Goodfellow et al. 2014, eq. 1."""
    return -F.softplus(fake_logits).mean()


def nonsaturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """-E_z log D(G(z)): same fixed point, strong gradients early on. Goodfellow et al. 2014, §3."""
    return F.softplus(-fake_logits).mean()


def least_squares_discriminator_loss(real_out: Tensor, fake_out: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """½ E_x (D(x) - b)² + ½ E_z (D(G(z)) - a)². Mao et al. 2017, eq. 2 (a = 0, b = 1: eq. 9).

    For fixed G the minimiser is D*(x) = (b·p_data(x) + a·p_g(x)) / (p_data(x) + p_g(x)) (eq. 4).
    """
    return 0.5 * (real_out - b).pow(2).mean() + 0.5 * (fake_out - a).pow(2).mean()


def least_squares_generator_loss(fake_out: Tensor, c: float = 1.0) -> Tensor:
    """½ E_z (D(G(z)) - c)². Mao et al. 2017, eq. 2 (c = 1: eq. 9)."""
    return 0.5 * (fake_out - c).pow(2).mean()


def wasserstein_critic_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """E_z f(G(z)) - E_x f(x): the critic ascends the W1 estimate. Arjovsky et al. 2017, eq. 3 / Algorithm 1."""
    return fake_out.mean() - real_out.mean()


def wasserstein_generator_loss(fake_out: Tensor) -> Tensor:
    """-E_z f(G(z)). Arjovsky et al. 2017, Algorithm 1 (line 10)."""
    return -fake_out.mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], x_real: Tensor, x_fake: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    """E_x̂ (‖∇_x̂ f(x̂)‖₂ - 1)², x̂ = εx + (1 - ε)x̃, ε ~ U[0, 1] per example. Gulrajani et al. 2017, eq. 3.

    The graph is kept (create_graph) so that the penalty trains the critic; multiply by λ.
    """
    shape = (len(x_real),) + (1,) * (x_real.dim() - 1)
    eps = torch.rand(shape, generator=generator, device=x_real.device, dtype=x_real.dtype)  # (B, 1, ...)
    x_hat = (eps * x_real + (1 - eps) * x_fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)  # (B, ...)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def js_from_minimax_value(value: Tensor | float) -> float:
    """JS(p_data ‖ p_g) = (V(D*, G) + log 4) / 2: Goodfellow et al. 2014, Theorem 1, solved for JS."""
    return (float(value) + math.log(4)) / 2
