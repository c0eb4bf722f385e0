"""Adversarial objectives: one table of losses, each a pure function of discriminator logits or critic outputs.

The scale. Every loss is the objective its player minimises as its paper writes it: one expectation
per term, each with weight 1 and averaged over the batch once, so that for outputs d = D(·)

    discriminator (critic):  L_D = E_x ℓ_real(D(x)) + E_z ℓ_fake(D(G(z)))
    generator:               L_G = E_z ℓ_G(D(G(z)))

    LOSSES[name]    ℓ_real(d)      ℓ_fake(d)          ℓ_G(d)
    minimax         -log σ(d)      -log(1 - σ(d))     log(1 - σ(d))    Goodfellow et al. 2014, eq. 1
    nonsaturating   -log σ(d)      -log(1 - σ(d))     -log σ(d)        Goodfellow et al. 2014, §3
    least_squares   ½(d - b)²      ½(d - a)²          ½(d - c)²        Mao et al. 2017, eq. 2
    wgan_clip       -d             d                  -d               Arjovsky et al. 2017, Alg. 1
    wgan_gp         -d             d                  -d               Gulrajani et al. 2017, Alg. 1

with σ the logistic sigmoid (D(x) = σ(logits) for the log losses; the least-squares and Wasserstein
critics use the raw output). log σ(d) = -softplus(-d) and log(1 - σ(d)) = -softplus(d) keep the log
losses finite where D saturates. The two Wasserstein critics add their constraint outside the
table: wgan_clip clips the critic's weights after each step, wgan_gp adds λ·`gradient_penalty`, the
one term that needs the critic itself. A model that follows another paper's scale multiplies the
table's losses at its call site (CycleGAN: Zhu et al. 2017, §4).

The losses' parameters are config fields of the models that use the table; `loss_field`,
`ls_a_field`, `ls_b_field`, `ls_c_field` and `gp_lambda_field` declare them once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from latentlab.fields import choice, nonnegative, number


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


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Targets:
    """The least-squares targets (Mao et al. 2017, eq. 2): D's on generated data a, on real data b,
    and c, the value G wants D to give its samples. The other losses ignore them."""

    a: float = 0.0
    b: float = 1.0
    c: float = 1.0


DiscriminatorLoss = Callable[[Tensor, Tensor, Targets], Tensor]  # (D(x), D(G(z)), targets) -> L_D, a scalar
GeneratorLoss = Callable[[Tensor, Targets], Tensor]  # (D(G(z)), targets) -> L_G, a scalar

LOSSES: dict[str, tuple[DiscriminatorLoss, GeneratorLoss]] = {  # name -> (L_D, L_G) at the module's scale
    "minimax": (lambda real, fake, t: minimax_discriminator_loss(real, fake),
                lambda fake, t: minimax_generator_loss(fake)),
    "nonsaturating": (lambda real, fake, t: minimax_discriminator_loss(real, fake),
                      lambda fake, t: nonsaturating_generator_loss(fake)),
    "least_squares": (lambda real, fake, t: least_squares_discriminator_loss(real, fake, t.a, t.b),
                      lambda fake, t: least_squares_generator_loss(fake, t.c)),
    "wgan_clip": (lambda real, fake, t: wasserstein_critic_loss(real, fake),
                  lambda fake, t: wasserstein_generator_loss(fake)),
    "wgan_gp": (lambda real, fake, t: wasserstein_critic_loss(real, fake),
                lambda fake, t: wasserstein_generator_loss(fake)),
}
WASSERSTEIN = ("wgan_clip", "wgan_gp")  # critics with a raw, unbounded output f(x) and a Lipschitz constraint


# ----------------------------------------------------------------------------- the config fields of the table


def loss_field(default: str, *, leave_out: tuple[str, ...] = ()) -> Any:
    """A model's `loss`: a name of LOSSES (those in `leave_out` refused), `default` first."""
    return choice(default, *(name for name in LOSSES if name != default and name not in leave_out))


def ls_a_field() -> Any:
    """`ls_a`, least squares: the target a of D on generated data (Mao et al. 2017, eq. 2)."""
    return number(0.0)


def ls_b_field() -> Any:
    """`ls_b`, least squares: the target b of D on real data."""
    return number(1.0)


def ls_c_field() -> Any:
    """`ls_c`, least squares: the value c that G wants D to give its samples."""
    return number(1.0)


def gp_lambda_field() -> Any:
    """`gp_lambda`, wgan_gp: the weight λ of the gradient penalty (Gulrajani et al. 2017, Alg. 1: 10)."""
    return nonnegative(10.0)
