"""Random crop and horizontal flip of a whole batch: one gather, no per-image Python.

The training augmentation of pix2pix and CycleGAN (Isola et al. 2017, §6.2; Zhu et al. 2017,
§7.1): images loaded at a larger size (286 px) are cropped at a uniformly random offset to the
training size (256 px) and mirrored left-right with probability ½, each image on its own. The
draws come from the transform's own torch.Generator (state in `state_dict`, so resume is exact);
under data parallelism every rank draws for the whole global batch and keeps its own share, so
the ranks together see what one process would.
"""

from __future__ import annotations

import torch
from torch import Tensor

from latentlab.errors import UserError


class RandomCropFlip:
    """(B, C, H, W) -> (B, C, crop, crop), any dtype; flip=False only crops, crop=0 keeps H×W."""

    def __init__(self, crop: int, flip: bool, *, seed: int):
        self.crop, self.flip = crop, flip
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, x: Tensor, rank: int = 0, world_size: int = 1) -> Tensor:
        """x is this rank's contiguous share of a global batch of world_size·len(x) images."""
        n, (h, w) = len(x) * world_size, x.shape[-2:]
        ch, cw = (self.crop, self.crop) if self.crop else (h, w)
        if ch > h or cw > w:
            raise UserError(f"data.crop = {ch} is larger than the images ({h}x{w}); lower it or raise data.image_size")
        top = torch.randint(h - ch + 1, (n,), generator=self.generator)  # (N,) for the global batch
        left = torch.randint(w - cw + 1, (n,), generator=self.generator)
        mirror = torch.rand(n, generator=self.generator) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool)
        share = slice(rank * len(x), (rank + 1) * len(x))
        top, left, mirror = top[share].to(x.device), left[share].to(x.device), mirror[share].to(x.device)
        i, j = torch.arange(ch, device=x.device), torch.arange(cw, device=x.device)
        rows = top[:, None] + i  # (B, ch)
        cols = left[:, None] + torch.where(mirror[:, None], cw - 1 - j, j)  # (B, cw): reversed where mirrored
        b = torch.arange(len(x), device=x.device)[:, None, None]
        out = x[b, :, rows[:, :, None], cols[:, None, :]]  # (B, ch, cw, C): advanced indices first
        return out.permute(0, 3, 1, 2).contiguous()  # (B, C, ch, cw)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def center_crop(x: Tensor, crop: int) -> Tensor:
    """The central crop × crop window of each image, (B, C, crop, crop); offsets rounded down."""
    h, w = x.shape[-2:]
    if crop > min(h, w):
        raise UserError(f"data.crop = {crop} is larger than the images ({h}x{w}); lower it or raise data.image_size")
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[..., top: top + crop, left: left + crop]
