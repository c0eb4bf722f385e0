"""The data a config asks for: `load(config)` -> ImageData, on the device the model trains on.

`resized` is the area downsampling behind data.image_size. The user's own data (folders,
arrays, apple2orange, arrays a run keeps) are read by data/own.py."""

from __future__ import annotations

from dataclasses import replace

import torch

from latentlab.config import Config
from latentlab.data import toy2d
from latentlab.data.datasets import ImageData, load_images
from latentlab.data.memory import memory_path
from latentlab.data.own import OWN_SOURCES, load_own
from latentlab.data.training import check_fit
from latentlab.data.root import data_root
from latentlab.errors import UserError
from latentlab.device import resolve_device


def load(config: Config, data_dir=None, device: str | torch.device | None = None, *, run=None) -> ImageData:
    """The train and test data of `config.data`: a generated 2-D distribution (seeded by data.seed),
    an image dataset from the data root (`data_dir`, else $LATENTLAB_DATA, else ./data) resized to
    data.image_size, or the user's own (data/own.py; data.name = "memory" reads the copy kept by
    the run directory `run`, a `Run`), on `device` (default: the config's train.device)."""
    if config.data.name in OWN_SOURCES:
        path = memory_path(run) if config.data.name == "memory" else None
        data = load_own(config.data, data_root(data_dir), path)
        check_fit(data, config)
    elif config.data.name in toy2d.DISTRIBUTIONS:  # generated: x is (N, 2)
        if config.data.binarize != "none":
            raise UserError(f"data.binarize = \"{config.data.binarize}\" is for images; the 2-D distribution "
                            f"\"{config.data.name}\" needs data.binarize = \"none\"")
        data = toy2d.load_toy2d(config.data.name, config.data.n_train, config.data.n_test, config.data.seed)
    else:
        data = resized(load_images(config.data.name, data_root(data_dir)), config.data.image_size)
    device = resolve_device(device or config.train.device)
    return replace(data, **{k: v.to(device) for k, v in vars(data).items() if isinstance(v, torch.Tensor)})


def resized(data: ImageData, size: tuple[int, ...]) -> ImageData:
    """The images downsampled to size = (H, W) by area averaging (each output pixel the mean of its
    input area, `F.interpolate(mode="area")`); an empty size keeps them as they are."""
    if not size:
        return data
    if len(size) != 2 or min(size) < 1:
        raise UserError(f"data.image_size must be [H, W] with H, W >= 1 (or [] for the native size), got {list(size)}")
    if data.train_x.dim() != 4:
        raise UserError(f"data.image_size applies to images; \"{data.name}\" is not an image dataset: use []")
    area = {k: torch.nn.functional.interpolate(getattr(data, k), size=tuple(size), mode="area")
            for k in ("train_x", "test_x")}
    return replace(data, **area)
