"""Two unpaired image domains in the layout of the CycleGAN release (Zhu et al. 2017): a folder holding
trainA, trainB, testA and testB, each with the images of one domain and split directly inside.

Domain A (trainA, testA) is X, label 0; domain B (trainB, testB) is Y, label 1. Their names come from
the folder's name where it has the form "<a>2<b>", optionally followed by "_<anything>":
horse2zebra -> ("horse", "zebra"), summer2winter_yosemite -> ("summer", "winter"); any other name
gives ("A", "B"). The images are read as data/folder.py reads a folder (resized to cover
data.image_size, then centre-cropped), in colour unless data.channels = 1; every split takes the
first one's size when data.image_size is empty.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from latentlab.data.batcher import as_float
from latentlab.data.datasets import ImageData
from latentlab.data.folder import loose_images, read_folder
from latentlab.errors import UserError

SPLITS = ("trainA", "trainB", "testA", "testB")
NAMES = re.compile(r"(?P<a>[^2]+)2(?P<b>[^2_]+)(?:_.*)?")  # "<a>2<b>" and an optional "_<qualifier>"


def domain_names(folder_name: str) -> tuple[str, str]:
    """The names of domains A and B read from a folder name "<a>2<b>[_...]"; ("A", "B") for any other name."""
    match = NAMES.fullmatch(folder_name)
    if match is None or match["a"] == match["b"]:
        return ("A", "B")
    return (match["a"], match["b"])


def has_domain_layout(folder: Path) -> bool:
    """Whether `folder` is meant as two unpaired domains: it holds any of trainA, trainB, testA, testB."""
    return any((Path(folder) / split).is_dir() for split in SPLITS)


def check_layout(folder: Path) -> None:
    """UserError, in one line, unless each of trainA, trainB, testA, testB is a folder with images directly inside."""
    missing = [split for split in SPLITS if not (folder / split).is_dir()]
    empty = [split for split in SPLITS if split not in missing and not loose_images(folder / split)]
    if missing or empty:
        what = "; ".join(part for part in (f"{', '.join(missing)} missing" if missing else "",
                                           f"no images directly in {', '.join(empty)}" if empty else "") if part)
        raise UserError(f"{folder}: {what}; two unpaired domains (the CycleGAN layout) need images directly in each "
                        f"of {', '.join(SPLITS)} (A is domain X, B domain Y; a few test images of each will do)")


def read_domains(cfg, folder: Path, name: str, classes: tuple[str, str]) -> ImageData:
    """Domain X (trainA, testA) label 0 and domain Y (trainB, testB) label 1 of `folder`, as ImageData called
    `name` whose classes are the two domains' names; `cfg` is a DataConfig (image_size, channels)."""
    folder = Path(folder)
    check_layout(folder)
    first = read_folder(folder / SPLITS[0], channels=cfg.channels or 3, size=cfg.image_size)
    channels, size = first.x.shape[1], cfg.image_size or tuple(first.x.shape[2:])
    train_a, train_b, test_a, test_b = [first.x] + [read_folder(folder / split, channels=channels, size=size).x
                                                     for split in SPLITS[1:]]
    labels = [torch.cat([torch.zeros(len(a), dtype=torch.int64), torch.ones(len(b), dtype=torch.int64)])
              for a, b in ((train_a, train_b), (test_a, test_b))]
    return ImageData(torch.cat([train_a, train_b]), labels[0], as_float(torch.cat([test_a, test_b])), labels[1],
                     name=name, classes=classes)
