"""Image folders: every image Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP, ...), decoded once.

Layout (the common image-folder convention): images directly in the folder (no labels), or
one subfolder per class (labels 0..K-1 in the sorted order of the subfolder names); data/own.py
adds the splits train/ and test/, and data/domains.py the two domains of trainA/trainB/testA/testB. Hidden
files and folders (a leading ".") are skipped. Each image is converted to grey ("L") or
colour ("RGB"; an alpha channel is dropped), then brought to size (H, W) by resizing with
bicubic filtering until it covers (H, W) (aspect ratio kept), then cropping the centre. A
JPEG is decoded at the smallest DCT scale that still covers the target (Pillow's `draft`).

`read_folder` keeps the decoded uint8 tensor in the cache directory (data/cache.py), keyed by
the files' names, sizes and mtimes and by the settings, so the second load of a folder only
reads one file. Nothing is ever written inside the folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from latentlab.data import cache
from latentlab.errors import UserError

LAYOUTS = ("the folder layouts read are: images directly inside; one subfolder of images per class; train/ and "
           "test/ each laid out either way; or trainA, trainB, testA, testB (two unpaired domains)")
CACHE_FORMAT = 1  # bump when decoding changes, so old cache entries miss
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass(frozen=True)
class FolderImages:
    """uint8 images (N, C, H, W), int64 labels (N,) or None, and the class names (label order)."""

    x: Tensor
    y: Tensor | None
    classes: tuple[str, ...]


def image_files(folder: Path) -> tuple[list[Path], list[int], tuple[str, ...]]:
    """The images of `folder` (sorted), their labels and the class names; flat folder: labels -1.

    Raises UserError for a missing folder, an empty one, and one mixing loose images with
    class subfolders.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder; check data.path")
    folder = folder.resolve()
    extensions = {ext.lower() for ext in Image.registered_extensions()}
    loose, by_class = _images_in(folder, extensions), {}
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.is_dir() and not entry.name.startswith("."):
                by_class[entry.name] = _images_in(Path(entry.path), extensions)
    by_class = {name: files for name, files in by_class.items() if files}
    if loose and by_class:
        raise UserError(f"{folder}: holds both images ({loose[0].name}, ...) and class subfolders "
                        f"({', '.join(by_class)}); put every image into a class subfolder, or none")
    if loose:
        return loose, [-1] * len(loose), ()
    if not by_class:
        raise UserError(f"{folder}: no images found (looked for {', '.join(sorted(extensions)[:6])}, ...); {LAYOUTS}")
    classes = tuple(by_class)
    files = [p for name in classes for p in by_class[name]]
    labels = [i for i, name in enumerate(classes) for _ in by_class[name]]
    return files, labels, classes


def loose_images(folder: Path) -> list[Path]:
    """The image files directly in `folder` (hidden files skipped), sorted by name."""
    return _images_in(Path(folder), {ext.lower() for ext in Image.registered_extensions()})


def _images_in(folder: Path, extensions: set[str]) -> list[Path]:
    """The image files directly in `folder` (by extension; hidden files skipped), sorted by name."""
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_file()
                       and os.path.splitext(e.name)[1].lower() in extensions)
    return [folder / name for name in names]


def probe(files: list[Path]) -> tuple[list[str], list[tuple[int, int]]]:
    """Each file's Pillow mode and (width, height), read from its header only."""
    modes, sizes = [], []
    for path in files:
        try:
            with Image.open(path) as image:
                modes.append(image.mode)
                sizes.append(image.size)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
            raise UserError(f"{path}: not a readable image ({error}); remove or replace it") from None
    return modes, sizes


def resolve_settings(files: list[Path], channels: int, size: tuple[int, ...]) -> tuple[int, tuple[int, int]]:
    """(channels, (H, W)): channels 0 means 1 if every image is grey, else 3; an empty size means
    the images' own size, which must then be the same for all of them."""
    modes, sizes = probe(files)
    if channels == 0:
        channels = 1 if all(mode in GREY_MODES for mode in modes) else 3
    if size:
        return channels, (size[0], size[-1])
    first = sizes[0]
    for path, other in zip(files, sizes):
        if other != first:
            raise UserError(f"{path}: is {other[0]}x{other[1]} but {files[0]} is {first[0]}x{first[1]}; "
                            "images of different sizes need data.image_size = [H, W]")
    return channels, (first[1], first[0])


def decode(path: Path, channels: int, size: tuple[int, int]) -> np.ndarray:
    """One image as uint8 (C, H, W): converted, resized to cover (H, W) keeping its aspect ratio
    (bicubic), centre-cropped to (H, W)."""
    height, width = size
    try:
        with Image.open(path) as image:
            scale = max(height / image.height, width / image.width)
            cover = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
            image.draft("L" if channels == 1 else "RGB", cover)  # JPEG: decode at a reduced DCT scale
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != cover:
                image = image.resize(cover, Image.BICUBIC)
            left, top = (cover[0] - width) // 2, (cover[1] - height) // 2
            pixels = np.asarray(image.crop((left, top, left + width, top + height)))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(f"{path}: not a readable image ({error}); remove or replace it") from None
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def read_folder(folder: Path, *, channels: int = 0, size: tuple[int, ...] = (), use_cache: bool = True) -> FolderImages:
    """Every image of `folder` as uint8 (N, C, H, W) with its class label (see the module docstring).

    channels: 1 (grey), 3 (colour) or 0 (grey if every image is grey); size: (H, W) or () for
    the images' common size. The decoded tensor is cached (see data/cache.py).
    """
    files, labels, classes = image_files(folder)
    # keyed by the settings as asked: a hit skips even the header probe of resolve_settings
    settings = {"format": CACHE_FORMAT, "channels": channels, "size": list(size), "classes": list(classes)}
    key = cache.fingerprint(files, settings)
    cached = cache.load_tensors("images", key) if use_cache else None
    if cached is not None and len(cached["x"]) == len(files):
        x = cached["x"]
    else:
        channels, hw = resolve_settings(files, channels, size)
        # (N, C, H, W) uint8, C-contiguous: stacking (C, H, W) views of (H, W, C) pixels keeps their channels-last
        # strides, and a convolution rounds differently on that layout than on the cached copy read back later
        x = torch.from_numpy(np.ascontiguousarray(np.stack([decode(p, channels, hw) for p in files])))
        if use_cache:
            cache.save_tensors("images", key, {"x": x}, meta={"folder": str(Path(folder).resolve())})
    y = torch.tensor(labels, dtype=torch.int64) if classes else None
    return FolderImages(x, y, classes)
