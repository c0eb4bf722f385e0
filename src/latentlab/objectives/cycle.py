"""CycleGAN's reconstruction objectives: pure functions of images and their translations.

‖·‖₁ is averaged over pixels and channels (and the batch), as the reference implementation's
nn.L1Loss does; the paper's weights (λ = 10 for the cycle, 0.5·λ for the identity) are set at
this per-pixel scale. Pixels are in [-1, 1].
"""

from __future__ import annotations

from torch import Tensor


def l1_per_pixel(a: Tensor, b: Tensor) -> Tensor:
    """(1 / (B·C·H·W)) Σ |a - b|: the mean absolute difference over every element."""
    return (a - b).abs().mean()


def cycle_consistency_loss(x: Tensor, x_cycled: Tensor, y: Tensor, y_cycled: Tensor) -> Tensor:
    """L_cyc(G, F) = E_x ‖F(G(x)) - x‖₁ + E_y ‖G(F(y)) - y‖₁. Zhu et al. 2017, eq. 2.

    x_cycled = F(G(x)) (forward cycle), y_cycled = G(F(y)) (backward cycle).
    """
    return l1_per_pixel(x_cycled, x) + l1_per_pixel(y_cycled, y)


def identity_loss(x: Tensor, F_x: Tensor, y: Tensor, G_y: Tensor) -> Tensor:
    """L_identity(G, F) = E_y ‖G(y) - y‖₁ + E_x ‖F(x) - x‖₁. Zhu et al. 2017, §5.2 (after Taigman et al. 2017).

    A generator handed an image of its own target domain should leave it unchanged; this keeps
    the colour composition of the input (the paper's Monet ↔ photo experiments).
    """
    return l1_per_pixel(G_y, y) + l1_per_pixel(F_x, x)
