"""The U-Net of DDPM on images (architecture only): ε_θ(x_t, t[, y]) for x_t (B, C, H, W).

Ho et al. 2020, App. B (after PixelCNN++ and the Wide ResNet): at each resolution `res_blocks`
residual blocks (GroupNorm, SiLU, 3×3 conv, the time embedding added, GroupNorm, SiLU, 3×3
conv), then a stride-2 3×3 conv down; the mirror path up (nearest-neighbour ×2, 3×3 conv) with
every down-path activation concatenated back in (the skip connections); optional self-attention
at the lowest resolution, between two residual blocks in the middle. The time step enters as a
sinusoidal embedding (Vaswani et al. 2017, §3.5) through a 2-layer MLP; a class label y, where
given, as a learned embedding added to it (index n_classes is the null class ∅ of
classifier-free guidance, Ho & Salimans 2022, §3.2). Any H×W: the image is zero-padded at the
bottom and right to a multiple of 2^(levels - 1) and the output cropped back (as ConvEncoder does).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentlab.errors import UserError
from latentlab.nn import sinusoidal_embedding


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups where the channels allow (Wu & He 2018; Ho et al. 2020), else gcd(32, C)."""
    return nn.GroupNorm(math.gcd(32, channels), channels)


class ResBlock(nn.Module):
    """h + conv(SiLU(GN(conv(SiLU(GN(h))) + W e))), with a 1×1 conv on the skip path where the channels change."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.in_layers = nn.Sequential(group_norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, c_out))
        self.out_layers = nn.Sequential(group_norm(c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        out = self.in_layers(h) + self.emb(emb)[:, :, None, None]  # (B, C_out, H, W): the embedding in every block
        return self.skip(h) + self.out_layers(out)


class SelfAttention(nn.Module):
    """h + proj(softmax(q kᵀ/√C) v) over the H·W positions, one head, q, k, v 1×1 convs of GN(h) (Ho et al. 2020, App. B)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm, self.qkv, self.proj = group_norm(channels), nn.Conv2d(channels, 3 * channels, 1), nn.Conv2d(channels, channels, 1)

    def forward(self, h: Tensor) -> Tensor:
        B, C, H, W = h.shape
        q, k, v = self.qkv(self.norm(h)).flatten(2).transpose(1, 2).chunk(3, dim=-1)  # each (B, H·W, C)
        a = F.scaled_dot_product_attention(q, k, v)  # (B, H·W, C)
        return h + self.proj(a.transpose(1, 2).reshape(B, C, H, W))


class UNet(nn.Module):
    """(x_t (B, C, H, W), c (B,) the time in [0, 1000], y (B,) labels or None) -> ε̂ (B, C, H, W).

    channels: the base width; channel_mult: the width of each resolution in units of it (its length is
    the number of resolutions, each but the last followed by a 2× downsampling); res_blocks: residual
    blocks per resolution; attention: self-attention at the lowest resolution; n_classes > 0: a class
    embedding (with a null class at index n_classes).
    """

    def __init__(self, x_shape: tuple[int, ...], channels: int = 32, channel_mult: tuple[int, ...] = (1, 2, 2),
                 res_blocks: int = 2, attention: bool = True, n_classes: int = 0):
        super().__init__()
        if len(x_shape) != 3:
            raise UserError(f"model.net = \"unet\" is not accepted for data of shape {tuple(x_shape)}: the U-Net "
                            "takes images (C, H, W); use model.net = \"mlp\" for points and tables")
        c, h, w = x_shape
        m = 2 ** (len(channel_mult) - 1)
        self.size, self.channels = (h, w), channels
        self.pad = (0, -w % m, 0, -h % m)  # F.pad: (left, right, top, bottom)
        emb_dim = 4 * channels
        self.time_mlp = nn.Sequential(nn.Linear(channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(n_classes + 1, emb_dim) if n_classes else None
        self.inp = nn.Conv2d(c, channels, 3, padding=1)
        widths = [channels * k for k in channel_mult]
        self.down, skips, width = nn.ModuleList(), [channels], channels
        for level, out in enumerate(widths):
            for _ in range(res_blocks):
                self.down.append(ResBlock(width, out, emb_dim))
                width = out
                skips.append(width)
            if level < len(widths) - 1:
                self.down.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
                skips.append(width)
        self.mid = nn.ModuleList([ResBlock(width, width, emb_dim), ResBlock(width, width, emb_dim)])
        self.attn = SelfAttention(width) if attention else nn.Identity()
        self.up = nn.ModuleList()
        for level, out in reversed(list(enumerate(widths))):
            for _ in range(res_blocks + 1):
                self.up.append(ResBlock(width + skips.pop(), out, emb_dim))
                width = out
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(width, width, 3, padding=1)))
        self.out = nn.Sequential(group_norm(width), nn.SiLU(), nn.Conv2d(width, c, 3, padding=1))

    def forward(self, x: Tensor, c: Tensor, y: Tensor | None = None) -> Tensor:
        emb = self.time_mlp(sinusoidal_embedding(c, self.channels))  # (B, 4·channels)
        if self.class_emb is not None and y is not None:
            emb = emb + self.class_emb(y)
        h = self.inp(F.pad(x, self.pad) if any(self.pad) else x)  # (B, channels, H', W'), H' a multiple of 2^levels
        hs = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            hs.append(h)
        h = self.mid[1](self.attn(self.mid[0](h, emb)), emb)
        for layer in self.up:
            h = layer(torch.cat([h, hs.pop()], 1), emb) if isinstance(layer, ResBlock) else layer(h)
        return self.out(h)[..., : self.size[0], : self.size[1]]  # (B, C, H, W)

