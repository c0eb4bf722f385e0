"""Image datasets in memory: `load_images(name, root)` -> ImageData of float32 tensors in [0, 1].

Splits: MNIST, Fashion-MNIST and SVHN use their official train/test files; binarized MNIST
uses its 50k train and 10k test splits (valid via `load_binarized_mnist_valid`); the Frey
faces have no official split; the Olivetti faces are split per person, images 0-7 for
training and 8-9 for testing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from latentlab.data.readers import read_amat, read_frey, read_idx, read_olivetti, read_svhn
from latentlab.data.sources import locate
from latentlab.errors import UserError

Splits = tuple[Tensor, Tensor | None, Tensor, Tensor | None]  # train_x, train_y, test_x, test_y


@dataclass(frozen=True)
class ImageData:
    """Train and test data and int64 (N,) labels or None.

    x: float32 images (N, C, H, W) in [0, 1], or uint8 (N, C, H, W) pixels 0..255 for large
    image sets (the batcher makes each batch float: pixel / 255), or a table (N, D). The test
    x is always float32.
    `classes`: the label names, label i = classes[i] (empty: unnamed or no labels).
    `feature_mean`, `feature_std`: a standardised table's statistics, x = (raw - mean) / std.
    `columns`: a table's column names (empty: unnamed).
    """

    train_x: Tensor
    train_y: Tensor | None
    test_x: Tensor
    test_y: Tensor | None
    name: str
    classes: tuple[str, ...] = ()
    feature_mean: Tensor | None = None
    feature_std: Tensor | None = None
    columns: tuple[str, ...] = ()


def load_images(name: str, root: Path, download: bool = True) -> ImageData:
    """Dataset `name` from `root/<folder>` (located, verified and if needed downloaded first).

    mnist, fashion_mnist: pixel/255, (N, 1, 28, 28), labels 0..9; 60,000 train, 10,000 test.
    binarized_mnist: values 0./1., (N, 1, 28, 28), no labels; 50,000 train, 10,000 test.
    frey_faces: pixel/255, (N, 1, 28, 20), no labels; there is no official split: the first
    1,768 frames train, the last 197 (10 %) test.
    olivetti_faces: pixel/255, (N, 1, 64, 64), label = person 0..39; 320 train, 80 test.
    svhn: pixel/255, (N, 3, 32, 32), labels 0..9; 73,257 train, 26,032 test.
    """
    if name not in LOADERS:
        raise UserError(f"unknown image dataset {name!r}; known: {', '.join(LOADERS)}")
    return ImageData(*LOADERS[name](locate(name, root, download)), name=name)


def load_binarized_mnist_valid(root: Path, download: bool = True) -> Tensor:
    """The 10,000-image valid split of binarized MNIST, float32 0./1. (N, 1, 28, 28)."""
    return _amat_images(locate("binarized_mnist", root, download) / "binarized_mnist_valid.amat.gz")


def _images(pixels: np.ndarray) -> Tensor:
    """uint8 (N, H, W) or (N, C, H, W) -> float32 (N, C, H, W) = pixel / 255."""
    if pixels.ndim == 3:
        pixels = pixels[:, None]
    return torch.from_numpy(pixels).to(torch.float32).div_(255)


def _load_idx(folder: Path) -> Splits:
    """The MNIST-layout pair of IDX splits in `folder` (MNIST and Fashion-MNIST)."""

    def split(prefix: str) -> tuple[Tensor, Tensor]:
        images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise UserError(
                f"{folder}: {prefix} images {images.shape} and labels {labels.shape} do not match; "
                "the files are swapped or from different releases"
            )
        return _images(images), torch.from_numpy(labels.astype(np.int64))

    return (*split("train"), *split("t10k"))


def _amat_images(path: Path) -> Tensor:
    """A binarized-MNIST split as float32 0./1. (N, 1, 28, 28)."""
    return torch.from_numpy(read_amat(path)).to(torch.float32).reshape(-1, 1, 28, 28)


def _load_binarized_mnist(folder: Path) -> Splits:
    train_x = _amat_images(folder / "binarized_mnist_train.amat.gz")
    test_x = _amat_images(folder / "binarized_mnist_test.amat.gz")
    return train_x, None, test_x, None


def _load_frey_faces(folder: Path) -> Splits:
    x = _images(read_frey(folder / "frey_rawface.mat"))
    n_test = (len(x) + 9) // 10  # the last 10 %, rounded up: 197 of 1,965
    return x[:-n_test].clone(), None, x[-n_test:].clone(), None


def _load_olivetti_faces(folder: Path) -> Splits:
    path = folder / "olivettifaces.mat"
    faces = read_olivetti(path)
    if len(faces) != 400:
        raise UserError(f"{path}: {len(faces)} faces, expected 400 (40 people x 10 images)")
    x = _images(faces)
    person = torch.arange(400) // 10
    train = torch.arange(400) % 10 < 8  # images 0-7 of each person train, 8-9 test
    return x[train], person[train], x[~train], person[~train]


def _load_svhn(folder: Path) -> Splits:
    train_x, train_y = read_svhn(folder / "train_32x32.mat")
    test_x, test_y = read_svhn(folder / "test_32x32.mat")
    return _images(train_x), torch.from_numpy(train_y), _images(test_x), torch.from_numpy(test_y)


LOADERS: dict[str, Callable[[Path], Splits]] = {
    "mnist": _load_idx,
    "fashion_mnist": _load_idx,
    "binarized_mnist": _load_binarized_mnist,
    "frey_faces": _load_frey_faces,
    "olivetti_faces": _load_olivetti_faces,
    "svhn": _load_svhn,
}
