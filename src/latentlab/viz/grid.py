"""Image grids as uint8 arrays, and PNG writing: the few image utilities torchvision would give.

`image_grid` follows `torchvision.utils.make_grid`: images row-major, `nrow` per row, `pad`
pixels of `pad_value` between them and around the border.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from latentlab.files import atomic_path


def image_grid(x: Tensor, nrow: int, pad: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] (clipped) -> uint8 (H', W') if C = 1, (H', W', 3) if C = 3."""
    if x.dim() != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        raise ValueError(f"image_grid expects (N, 1 or 3, H, W) with N > 0, got {tuple(x.shape)}")
    if nrow < 1 or pad < 0:
        raise ValueError(f"image_grid needs nrow >= 1 and pad >= 0, got nrow={nrow}, pad={pad}")
    n, c, h, w = x.shape
    ncol, nrows = min(nrow, n), math.ceil(n / nrow)
    images = x.detach().float().cpu().nan_to_num(0.0).clamp(0, 1).numpy()
    blank = np.full((nrows * ncol - n, c, h, w), pad_value, dtype=np.float32)
    cells = np.concatenate([images, blank]).reshape(nrows, ncol, c, h, w)
    cells = np.pad(cells, [(0, 0)] * 3 + [(0, pad), (0, pad)], constant_values=pad_value)
    grid = cells.transpose(2, 0, 3, 1, 4).reshape(c, nrows * (h + pad), ncol * (w + pad))
    grid = np.pad(grid, [(0, 0), (pad, 0), (pad, 0)], constant_values=pad_value)
    grid = np.round(np.clip(grid, 0, 1) * 255).astype(np.uint8)  # (C, H', W')
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_png(array: np.ndarray, path: Path, scale: int = 1) -> Path:
    """Write a uint8 (H, W) or (H, W, 3) image, each pixel upscaled to scale x scale (nearest)."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or array.shape[2:] not in ((), (3,)):
        raise ValueError(f"save_png expects uint8 (H, W) or (H, W, 3), got {array.dtype} "
                         f"{array.shape}")
    if scale < 1:
        raise ValueError(f"save_png needs scale >= 1, got {scale}")
    big = array.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(big).save(tmp, format="PNG")
    return path


def save_figure(fig, path: Path | None, dpi: int = 100):
    """A matplotlib Figure as a PNG at `path`, written atomically on a white background; returns the path.
    With `path` None nothing is written and the Figure itself is returned (a notebook displays it), so every
    figure function of viz/ drawn with `path=None` hands back its Figure."""
    if path is None:
        from latentlab.display import inline_figure

        return inline_figure(fig)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, facecolor="white")
    return path
