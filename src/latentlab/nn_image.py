"""Image-to-image networks (architectures only): CycleGAN's ResNet generator and the PatchGAN discriminator.

Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", Appendix 7.2, in its naming: c7s1-k is a 7×7 convolution, stride 1, k filters,
instance norm, ReLU; dk a 3×3 stride-2 convolution with k filters, instance norm, ReLU; Rk a
residual block of two 3×3 convolutions with k filters; uk a 3×3 fractional-strided (stride ½)
convolution with k filters, instance norm, ReLU; Ck a 4×4 stride-2 convolution with k filters,
instance norm, leaky ReLU 0.2. In place of uk the generator can up-sample by resize-convolution
(Odena et al. 2016, "Deconvolution and Checkerboard Artifacts"): nearest-neighbour ×2, then a 3×3
stride-1 convolution, so that every output pixel sees the same number of kernel taps and the
checkerboard of the fractional-strided convolution cannot form. Reflection padding inside the generator. A convolution followed by
instance norm has no bias: the norm subtracts each channel's mean, which cancels a bias exactly
(its gradient is zero, and Adam would only move it by rounding noise). The reference
implementation keeps those biases; the functions computed are the same.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def instance_norm(channels: int) -> nn.Module:
    """Instance normalisation without affine parameters or running statistics (Ulyanov et al. 2016)."""
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    """Rk: x + [reflect-pad 1, 3×3 conv, IN, ReLU, reflect-pad 1, 3×3 conv, IN](x). He et al. 2016; Zhu et al. 2017, App. 7.2."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False), instance_norm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False), instance_norm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


UPSAMPLING = ("transpose", "resize")  # uk as the paper's fractional-strided conv, or resize-convolution


def up_block(c_in: int, k: int, upsampling: str) -> list[nn.Module]:
    """uk: ×2 up-sampling to k channels, then IN and ReLU; "transpose" (the paper) or "resize" (Odena et al. 2016)."""
    if upsampling == "transpose":
        conv = [nn.ConvTranspose2d(c_in, k, 3, stride=2, padding=1, output_padding=1, bias=False)]
    else:  # resize-convolution: the kernel's taps land evenly on the up-sampled grid
        conv = [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(c_in, k, 3, bias=False)]
    return [*conv, instance_norm(k), nn.ReLU(True)]


class ResNetGenerator(nn.Module):
    """c7s1-ngf, d(2·ngf), d(4·ngf), n_blocks × R(4·ngf), u(2·ngf), u(ngf), c7s1-C, tanh: (B, C, H, W) -> (B, C, H, W).

    Zhu et al. 2017, App. 7.2 (after Johnson et al. 2016): ngf = 64 with 9 blocks at 256 px, 6
    at 128 px. H and W must be divisible by 4. The output is in [-1, 1] (tanh). `upsampling` picks
    how u(2·ngf) and u(ngf) double the size (`up_block`).
    """

    def __init__(self, channels: int = 3, ngf: int = 64, n_blocks: int = 9, upsampling: str = "transpose"):
        super().__init__()
        layers: list[nn.Module] = [  # c7s1-ngf
            nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, 7, bias=False), instance_norm(ngf), nn.ReLU(True),
        ]
        for k in (2 * ngf, 4 * ngf):  # d128, d256
            layers += [nn.Conv2d(k // 2, k, 3, stride=2, padding=1, bias=False), instance_norm(k), nn.ReLU(True)]
        layers += [ResidualBlock(4 * ngf) for _ in range(n_blocks)]
        for k in (2 * ngf, ngf):  # u128, u64
            layers += up_block(2 * k, k, upsampling)
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, 7), nn.Tanh()]  # c7s1-3
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (B, C, H, W) in [-1, 1]


class PatchGANDiscriminator(nn.Module):
    """C(ndf), C(2·ndf), ..., then a stride-1 C(ndf·min(2ⁿ, 8)) and a 4×4 stride-1 conv to 1 channel: one
    real/fake output per overlapping patch, (B, 1, h, w).

    Isola et al. 2017 (pix2pix), §3.2.2 and App. 6.1.2; Zhu et al. 2017, App. 7.2: for n_layers = 3,
    C64-C128-C256-C512, no norm after the first, leaky ReLU 0.2; each output sees a 70×70 patch
    (`receptive_field`). At 256 px the output is 30×30, at 128 px 14×14, at 64 px 6×6.
    """

    def __init__(self, channels: int = 3, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1  # the last C-layer keeps the resolution
            layers += [nn.Conv2d(width, out, 4, stride=stride, padding=1, bias=False), instance_norm(out), nn.LeakyReLU(0.2, True)]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (B, 1, h, w): a raw score per patch


def receptive_field(module: nn.Module) -> int:
    """Side of the input square one output sees, through a chain of convolutions: r ← (r - 1)·s + k, from the
    output back to the input (Araujo et al. 2019, eq. 2)."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    r = 1
    for conv in reversed(convs):
        r = (r - 1) * conv.stride[0] + conv.kernel_size[0]
    return r


@torch.no_grad()
def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """Every convolution's weight ~ N(0, std²) and bias 0: the initialisation of Zhu et al. 2017 (§4, after pix2pix)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
