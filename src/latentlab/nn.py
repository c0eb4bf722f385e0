"""Network building blocks: architectures only, no objectives.

Encoders map x (and optionally a one-hot y) to the mean and variance of a diagonal Gaussian
q(z|x); decoders map z (and y) to the flat parameters of p(x|z) (logits or means, (N, D)).
The GAN nets map noise to images and images to critic scores (`frozen` holds a critic's parameters
still inside its generator's step); `ScoreMLP` maps a point and a
noise level (through `sinusoidal_embedding`) to a score or a noise prediction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.errors import UserError


class MLP(nn.Sequential):
    """Linear layers with `activation` between them (none after the last)."""

    def __init__(self, dims: list[int], activation: type[nn.Module] = nn.ELU):
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
            if i < len(dims) - 2:
                layers.append(activation())
        super().__init__(*layers)


def gaussian_head(h: Tensor) -> tuple[Tensor, Tensor]:
    """Split (N, 2Z) into a mean and a variance softplus(h) + 1e-8 (the CS236 "v1" parametrisation)."""
    mean, h_var = h.chunk(2, dim=-1)
    return mean, F.softplus(h_var) + 1e-8


def _with_y(h: Tensor, y: Tensor | None) -> Tensor:
    return h if y is None else torch.cat([h, y], dim=-1)


def one_hot(y: Tensor, n_classes: int, like: Tensor) -> Tensor:
    """Int labels y (...,) as one-hot rows (..., n_classes) in `like`'s dtype: how labels enter the networks."""
    return F.one_hot(y, n_classes).to(like.dtype)


class MLPEncoder(nn.Module):
    """x (+ y) -> 300 -> ELU -> 300 -> ELU -> 2Z: the CS236 homework-2 "v1" encoder."""

    def __init__(self, x_shape: tuple[int, ...], z_dim: int, y_dim: int = 0, hidden: int = 300):
        super().__init__()
        self.net = MLP([math.prod(x_shape) + y_dim, hidden, hidden, 2 * z_dim])

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return gaussian_head(self.net(_with_y(x.flatten(1), y)))


class MLPDecoder(nn.Module):
    """z (+ y) -> 300 -> ELU -> 300 -> ELU -> D: the CS236 homework-2 "v1" decoder."""

    def __init__(self, x_shape: tuple[int, ...], z_dim: int, y_dim: int = 0, hidden: int = 300):
        super().__init__()
        self.net = MLP([z_dim + y_dim, hidden, hidden, math.prod(x_shape)])

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(_with_y(z, y))

    def decoder_layers(self) -> list[nn.Module]:
        """concat(z, y) -> flat output, as plain layers (models/base.py: PortableDecoder)."""
        return [self.net]


def conv_stages(height: int, width: int) -> int:
    """The depth rule of ConvEncoder/ConvDecoder: stride-2 stages until the smaller side is at most 8,
    and at least 2. 28×28 -> 2 (7×7), 32×32 -> 2 (8×8), 64×64 -> 3 (8×8), 256×256 -> 5 (8×8)."""
    stages, side = 2, min(height, width) / 4
    while side > 8:
        stages, side = stages + 1, side / 2
    return stages


def conv_channels(stages: int) -> list[int]:
    """Channels after each stride-2 stage: 32, 64, 128, 256, then 256 again."""
    return [min(32 * 2**i, 256) for i in range(stages)]


def _conv_grid(x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(C, stages, H', W') for images (C, H, W): H' = ceil(H / 2^stages), likewise W'."""
    if len(x_shape) != 3:
        raise UserError(f"the conv networks need images (C, H, W), got data of shape {x_shape}; "
                        "use model.net = \"v1\" (MLP) for this data")
    c, h, w = x_shape
    stages = conv_stages(h, w)
    return c, stages, -(-h // 2**stages), -(-w // 2**stages)


class ConvEncoder(nn.Module):
    """Stride-2 4×4 convolutions (32, 64, 128, 256, ... channels; `conv_stages` many), then 256 units -> 2Z.

    Any C and H×W: an image whose sides are not multiples of 2^stages is zero-padded at the
    bottom and right first. Two stages (the CS236-era small conv pair) up to 32×32."""

    def __init__(self, x_shape: tuple[int, ...], z_dim: int, y_dim: int = 0, hidden: int = 256):
        super().__init__()
        c, stages, gh, gw = _conv_grid(x_shape)
        channels = conv_channels(stages)
        self.pad = (0, gw * 2**stages - x_shape[2], 0, gh * 2**stages - x_shape[1])  # F.pad: (left, right, top, bottom)
        layers: list[nn.Module] = []
        for c_in, c_out in zip([c, *channels[:-1]], channels):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.ELU()]
        self.conv = nn.Sequential(*layers, nn.Flatten())
        self.head = MLP([channels[-1] * gh * gw + y_dim, hidden, 2 * z_dim])

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if any(self.pad):
            x = F.pad(x, self.pad)  # (B, C, H'·2^stages, W'·2^stages)
        return gaussian_head(self.head(_with_y(self.conv(x), y)))


class Crop(nn.Module):
    """x (B, C, H', W') -> its top-left (B, C, H, W): undoes ConvEncoder's padding."""

    def __init__(self, height: int, width: int):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: Tensor) -> Tensor:
        return x[..., : self.height, : self.width]


class ConvDecoder(nn.Module):
    """The mirror of ConvEncoder: Z -> 256 -> channels·H'·W' -> stride-2 transposed convs -> C·H·W (flat)."""

    def __init__(self, x_shape: tuple[int, ...], z_dim: int, y_dim: int = 0, hidden: int = 256):
        super().__init__()
        c, stages, gh, gw = _conv_grid(x_shape)
        channels = conv_channels(stages)[::-1]
        self.grid = (channels[0], gh, gw)
        self.fc = nn.Sequential(MLP([z_dim + y_dim, hidden, math.prod(self.grid)]), nn.ELU())
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.ELU()]
        layers.append(nn.ConvTranspose2d(channels[-1], c, 4, 2, 1))
        if (gh * 2**stages, gw * 2**stages) != tuple(x_shape[1:]):
            layers.append(Crop(*x_shape[1:]))
        self.deconv = nn.Sequential(*layers, nn.Flatten())

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.fc(_with_y(z, y))
        return self.deconv(h.view(-1, *self.grid))

    def decoder_layers(self) -> list[nn.Module]:
        """concat(z, y) -> flat output, as plain layers (models/base.py: PortableDecoder)."""
        return [self.fc, nn.Unflatten(1, self.grid), self.deconv]


def _conv_shape(x_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(x_shape) != 3 or x_shape[1] % 4 or x_shape[2] % 4:
        raise UserError(
            f"the conv networks need images (C, H, W) with H and W divisible by 4, got {x_shape}; "
            "use model.net = \"v1\" (MLP) for this data"
        )
    return x_shape


NETWORKS = {"v1": (MLPEncoder, MLPDecoder), "conv": (ConvEncoder, ConvDecoder)}


def encoder_decoder(net: str, x_shape: tuple[int, ...], z_dim: int, y_dim: int = 0) -> tuple[nn.Module, nn.Module]:
    """The encoder and decoder pair named `net` ("v1" MLP or "conv")."""
    enc, dec = NETWORKS[net]
    return enc(x_shape, z_dim, y_dim), dec(x_shape, z_dim, y_dim)


# ----------------------------------------------------------------------------- adversarial networks


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Run a module without building gradients for its parameters (inputs still get theirs): a
    discriminator inside its generator's step."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class GeneratorMLP(nn.Module):
    """z -> `layers` × (hidden, ReLU) -> prod(x_shape), reshaped to x_shape; sigmoid output for images in [0, 1]."""

    def __init__(self, z_dim: int, x_shape: tuple[int, ...], hidden: int = 128, layers: int = 3):
        super().__init__()
        self.x_shape = tuple(x_shape)
        self.net = MLP([z_dim, *[hidden] * layers, math.prod(x_shape)], nn.ReLU)
        self.out = nn.Sigmoid() if len(self.x_shape) == 3 else nn.Identity()

    def forward(self, z: Tensor) -> Tensor:
        return self.out(self.net(z)).view(-1, *self.x_shape)


class CriticMLP(nn.Module):
    """x -> `layers` × (hidden, ReLU) -> 1: a discriminator's logit or a critic's value, (B,)."""

    def __init__(self, x_shape: tuple[int, ...], hidden: int = 128, layers: int = 3):
        super().__init__()
        self.net = MLP([math.prod(x_shape), *[hidden] * layers, 1], nn.ReLU)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(-1)


class DCGANGenerator(nn.Module):
    """z -> [fc, BN, ReLU] -> 2c·(H/4)·(W/4), BN, ReLU -> 4×4 stride-2 transposed conv to c, BN, ReLU -> to C -> sigmoid.

    The DCGAN pattern (Radford et al. 2016, §3) at MNIST scale: batch norm in the generator,
    ReLU inside, a bounded output (sigmoid: pixels in [0, 1] like the data, not tanh's [-1, 1]).
    With fc > 0 a fully connected layer of that width comes first, as in InfoGAN's MNIST
    generator (Chen et al. 2016, Table 6, with 1024 units and 128/64 channels).
    """

    def __init__(self, z_dim: int, x_shape: tuple[int, ...], channels: int = 32, fc: int = 0):
        super().__init__()
        c, h, w = _conv_shape(x_shape)
        self.grid = (2 * channels, h // 4, w // 4)
        head = [nn.Linear(z_dim, fc), nn.BatchNorm1d(fc), nn.ReLU()] if fc else []
        self.fc = nn.Sequential(*head, nn.Linear(fc or z_dim, math.prod(self.grid)), nn.Unflatten(1, self.grid),
                                nn.BatchNorm2d(2 * channels), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, 2, 1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.ConvTranspose2d(channels, c, 4, 2, 1), nn.Sigmoid(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.deconv(self.fc(z))  # (B, C, H, W)


class DCGANCritic(nn.Module):
    """x -> 4×4 stride-2 convs to c and 2c channels, LeakyReLU(0.2) -> [fc, LeakyReLU] -> 1, (B,).

    batch_norm=False: every output depends on its own input only, as the per-example gradient
    penalty needs (Gulrajani et al. 2017, §4). batch_norm=True puts batch norm after the second
    conv and the fc layer (DCGAN's discriminator, Radford et al. 2016, §3; InfoGAN's D); then an
    output depends on its whole batch, so real and generated batches must go through separately.
    """

    def __init__(self, x_shape: tuple[int, ...], channels: int = 32, fc: int = 0, batch_norm: bool = False):
        super().__init__()
        c, h, w = _conv_shape(x_shape)
        norm2d = [nn.BatchNorm2d(2 * channels)] if batch_norm else []
        norm1d = [nn.BatchNorm1d(fc)] if batch_norm and fc else []
        features = 2 * channels * (h // 4) * (w // 4)
        head = [nn.Linear(features, fc), *norm1d, nn.LeakyReLU(0.2), nn.Linear(fc, 1)] if fc else [nn.Linear(features, 1)]
        self.net = nn.Sequential(
            nn.Conv2d(c, channels, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 4, 2, 1), *norm2d, nn.LeakyReLU(0.2),
            nn.Flatten(), *head,
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


# ----------------------------------------------------------------------------- score networks


def sinusoidal_embedding(c: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """[sin(c ω_k), cos(c ω_k)], ω_k = max_period^(-2k/dim), k < dim/2; (B,) -> (B, dim). Vaswani et al. 2017, §3.5."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=c.device, dtype=torch.float32) / half)
    angles = c.float()[:, None] * freqs  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], -1)


class ScoreMLP(nn.Module):
    """(x, c) -> R^D: [x, sin/cos(2^j π x)] ⊕ sinusoidal(c) -> H -> `blocks` residual SiLU layers -> D.

    c is the noise level as a coordinate in [0, 1000] (a DDPM time step, or a position on the
    σ ladder); x_freqs > 0 adds Fourier features of x at frequencies 2^j π, j < x_freqs.
    """

    def __init__(self, x_dim: int, hidden: int = 128, blocks: int = 3, emb_dim: int = 32, x_freqs: int = 0):
        super().__init__()
        self.emb_dim = emb_dim
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(x_freqs, dtype=torch.float32))
        self.inp = nn.Linear(x_dim * (1 + 2 * x_freqs) + emb_dim, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(blocks))
        self.out = nn.Linear(hidden, x_dim)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        feats = [x, sinusoidal_embedding(c, self.emb_dim)]
        if len(self.freqs):
            angles = (x[..., None] * self.freqs).flatten(1)  # (B, D·F)
            feats += [angles.sin(), angles.cos()]
        h = self.inp(torch.cat(feats, -1))  # (B, H)
        for block in self.blocks:
            h = h + block(F.silu(h))
        return self.out(F.silu(h))
