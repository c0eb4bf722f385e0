"""The user's own data as ImageData: an image folder, an array file, apple2orange, or arrays
handed to the Python API (kept by the run). Each reads `DataConfig` fields:

folder:   data.path is a folder of images (data/folder.py for the layout). With train/ and test/
          subfolders those are the splits; otherwise a held-out data.test_fraction of the images,
          drawn by a torch.Generator seeded data.seed, is the test set. data.channels (0: grey if
          every image is grey, 1, 3), data.image_size [H, W] (resize to cover, centre crop; empty:
          the images' common size). data.crop and data.flip then act on the training batches
          (data/augment.py), and the test images are centre-cropped to data.crop.
array:    data.path is a .npy or .npz file (data/arrays.py). Images stay as given (uint8 or [0, 1]),
          resized by area averaging to data.image_size when it is set; a table (N, D) is
          standardised per feature with the training split's mean and standard deviation
          (data.standardize; a constant feature keeps std 1). The held-out split as for folders.
folder with trainA, trainB, testA, testB: two unpaired domains (data/domains.py): trainA/testA are
          domain X (label 0), trainB/testB domain Y (label 1), named after the folder ("horse2zebra":
          horse, zebra; else A, B), at data.image_size (the load size: 286 for data.crop = 256).
apple2orange, horse2zebra, ... (config.CYCLEGAN_RELEASES): the CycleGAN releases, read as such a
          folder; data/archives.py downloads and verifies them.
memory:   arrays given to `latentlab.train(..., data=...)`, read back from the run's data.safetensors.
Training images from folders stay uint8 in memory; every test set is float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from latentlab.data import arrays as arr
from latentlab.data import cache
from latentlab.data.archives import ARCHIVES, locate_archive
from latentlab.data.batcher import as_float
from latentlab.data.datasets import ImageData
from latentlab.data.domains import domain_names, has_domain_layout, read_domains
from latentlab.data.folder import read_folder
from latentlab.errors import UserError


def load_own(cfg, root: Path, path: Path | None = None, download: bool = True) -> ImageData:
    """The data of `cfg` (a DataConfig) whose name is one of the own sources; `path` overrides data.path."""
    if cfg.name in ARCHIVES:
        return read_domains(cfg, locate_archive(cfg.name, root, download), cfg.name, domain_names(cfg.name))
    if path is None:
        if not cfg.path:
            raise UserError(f"data.name = \"{cfg.name}\" needs data.path, the {'folder' if cfg.name == 'folder' else 'file'} to read")
        path = Path(cfg.path).expanduser()
    if cfg.name == "folder":
        return _folder(cfg, path)
    data = arr.check_arrays(arr.read_arrays(path), str(path))
    return arrays_data(data, cfg, str(path), columns=arr.read_columns(path))


def _hw(size: tuple[int, ...]) -> tuple[int, int]:
    return (size[0], size[-1])


def _folder(cfg, path: Path) -> ImageData:
    if not path.is_dir():
        raise UserError(f"{path}: no such folder; check data.path")
    if (path / "train").is_dir() and (path / "test").is_dir():
        train = read_folder(path / "train", channels=cfg.channels, size=cfg.image_size)
        test = read_folder(path / "test", channels=train.x.shape[1], size=cfg.image_size or tuple(train.x.shape[2:]))
        if test.classes and not set(test.classes) <= set(train.classes):
            raise UserError(f"{path / 'test'}: classes {', '.join(sorted(set(test.classes) - set(train.classes)))} "
                            f"are not in {path / 'train'}")
        test_y = None if test.y is None else torch.tensor([train.classes.index(test.classes[i]) for i in test.y])
        return ImageData(train.x, train.y, as_float(test.x), test_y, name="folder", classes=train.classes)
    if has_domain_layout(path):  # named by the folder and its path: the domain judge is cached under this name
        return read_domains(cfg, path, cache.folder_key(path), domain_names(path.resolve().name))
    train_all = test_all = read_folder(path, channels=cfg.channels, size=cfg.image_size)
    train_idx, test_idx = held_out(len(train_all.x), cfg.test_fraction, cfg.seed, str(path))
    y = train_all.y
    return ImageData(train_all.x[train_idx], None if y is None else y[train_idx], as_float(test_all.x[test_idx]),
                     None if y is None else y[test_idx], name="folder", classes=train_all.classes)


def held_out(n: int, fraction: float, seed: int, where: str) -> tuple[Tensor, Tensor]:
    """(train, test) indices, each sorted: a random `fraction` of 0..n-1 (torch.Generator seeded `seed`) is test."""
    n_test = round(n * fraction)
    if not 0 < n_test < n:
        raise UserError(f"{where}: {n} examples and data.test_fraction = {fraction} leave "
                        f"{n_test} for the test set and {n - n_test} for training; each needs at least one")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_test:].sort().values, perm[:n_test].sort().values


def arrays_data(data: dict[str, np.ndarray], cfg, where: str, name: str = "array",
                columns: tuple[str, ...] = ()) -> ImageData:
    """ImageData from checked arrays (see the module docstring for images and tables); `columns` names a
    table's features."""
    x, y = data["x"], data.get("y")
    if "x_test" in data:
        x_test, y_test = data["x_test"], data.get("y_test")
    else:
        train_idx, test_idx = (i.numpy() for i in held_out(len(x), cfg.test_fraction, cfg.seed, where))
        x, x_test = x[train_idx], x[test_idx]
        y, y_test = (None, None) if y is None else (y[train_idx], y[test_idx])
    classes: tuple[str, ...] = ()
    if y is not None:
        y, y_test, classes = arr.label_classes(y, y_test)
    labels = [None if v is None else torch.from_numpy(np.ascontiguousarray(v)) for v in (y, y_test)]
    if x.ndim == 2:  # a table
        if cfg.image_size:
            raise UserError(f"{where}: data.image_size is for images; x is a table {x.shape}: use []")
        x, x_test = x.astype(np.float64), x_test.astype(np.float64)
        mean, std = x.mean(0), x.std(0)
        std[std == 0] = 1.0  # a constant feature stays constant
        if not cfg.standardize:
            mean, std = np.zeros_like(mean), np.ones_like(std)
        train_x, test_x = (torch.from_numpy(((v - mean) / std).astype(np.float32)) for v in (x, x_test))
        stats = {"feature_mean": torch.from_numpy(mean.astype(np.float32)),
                 "feature_std": torch.from_numpy(std.astype(np.float32))}
        if columns and len(columns) != x.shape[1]:
            raise UserError(f"{where}: {len(columns)} column names for a table of {x.shape[1]} columns")
        return ImageData(train_x, labels[0], test_x, labels[1], name=name, classes=classes, columns=columns, **stats)
    train_x, test_x = (torch.from_numpy(np.ascontiguousarray(arr.image_pixels(arr.image_layout(v, f"{where}: {k}"),
                                                                                 f"{where}: {k}")))
                       for k, v in (("x", x), ("x_test", x_test)))
    if cfg.channels and train_x.shape[1] != cfg.channels:
        raise UserError(f"{where}: x has {train_x.shape[1]} channels, data.channels = {cfg.channels}")
    if cfg.image_size:
        train_x, test_x = (_area(v, _hw(cfg.image_size)) for v in (train_x, test_x))
    return ImageData(train_x, labels[0], as_float(test_x), labels[1], name=name, classes=classes)


def _area(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Images resized to `size` by area averaging (F.interpolate mode "area"), float32 in [0, 1]."""
    return torch.nn.functional.interpolate(as_float(x), size=size, mode="area")
