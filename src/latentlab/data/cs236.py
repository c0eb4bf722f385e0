"""The two fixed 100-image MNIST subsets of the CS236 protocol (Stanford, Fall 2021, homework 2).

`cs236_mnist_subsets.json` (package data, a byte copy of the protocol's reference file) lists for each
digit i ten positions among the images of digit i, counted in file order. The "test" lists
pick the likelihood-evaluation subset from the MNIST test set, binarized once with a fixed
seed; the "train" lists pick the 100 labelled images of the semi-supervised VAE (M2).
See docs/protocols.md, section A.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources

import numpy as np
import torch
from torch import Tensor

from latentlab.errors import UserError

SUBSETS_FILE = "cs236_mnist_subsets.json"
PROTOCOL = "CS236 (Stanford, Fall 2021) homework 2"


def cs236_test_pixels(test_x: Tensor, test_y: Tensor) -> Tensor:
    """The 100 evaluation images, grey (pixel/255, not binarized): (100, 1, 28, 28).

    Digits 0..9 in order, 10 each in the JSON's "test" list order, taken from the MNIST test
    set (`test_x` pixel/255, `test_y` its labels).
    """
    index = _select(test_x, test_y, _subsets()["test"], "test")
    if test_x[0].numel() != 784:
        raise UserError(f"the CS236 test subset needs 28x28 images, got {tuple(test_x.shape[1:])}")
    p = test_x[index].reshape(100, 1, 28, 28)
    if p.min() < 0 or p.max() > 1:
        raise UserError("the CS236 test subset needs pixel/255 values in [0, 1], not raw 0..255 pixels")
    return p


def cs236_test_subset(test_x: Tensor, test_y: Tensor, seed: int = 0) -> Tensor:
    """The 100 evaluation images, statically binarized: float32 0./1. (100, 1, 28, 28).

    Binarized exactly as the JSON's "static_binarization" says: the (100, 784) float32 array p
    of `cs236_test_pixels`, `np.random.seed(seed)`, then `np.random.binomial(1, p)` in C order,
    with NumPy's legacy global generator. The caller's global NumPy state is saved and restored
    around the draw. Seed 0 is the protocol's; another seed draws another binarization of the
    same images (bench/subset_binarization.py measures how much the bounds owe to the draw).
    """
    p = cs236_test_pixels(test_x, test_y).reshape(100, 784).cpu().numpy().astype(np.float32)
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        x = np.random.binomial(1, p)  # (100, 784) int draws in C order
    finally:
        np.random.set_state(state)
    return torch.from_numpy(x.astype(np.float32)).reshape(100, 1, 28, 28).to(test_x.device)


def cs236_label_subset(train_x: Tensor, train_y: Tensor) -> tuple[Tensor, Tensor]:
    """The 100 labelled training images of the semi-supervised VAE, grey (not binarized), and
    their labels: digits 0..9 in order, 10 each in the JSON's "train" list order. CS236 re-binarizes
    them at every step.
    """
    index = _select(train_x, train_y, _subsets()["train"], "train")
    return train_x[index], train_y[index]


def cs236_subset_description() -> dict:
    """What a results file records about the subsets: file, its sha256, protocol, binarization rule."""
    return {
        "source": SUBSETS_FILE,
        "sha256": hashlib.sha256(_subsets_bytes()).hexdigest(),
        "protocol": PROTOCOL,
        "static_binarization": _subsets()["static_binarization"],
    }


def _subsets_bytes() -> bytes:
    return resources.files(__package__).joinpath(SUBSETS_FILE).read_bytes()


def _subsets() -> dict:
    return json.loads(_subsets_bytes())


def _select(x: Tensor, y: Tensor, lists: list[list[int]], split: str) -> Tensor:
    """Indices into `x`: for digit i = 0..9 in turn, the k-th image of digit i, k in lists[i]."""
    labels = y.cpu().numpy()
    if len(x) != len(labels):
        raise UserError(
            f"the CS236 {split} subset needs one label per image, got {len(labels)} for {len(x)}"
        )
    index = []
    for digit, positions in enumerate(lists):
        of_digit = np.flatnonzero(labels == digit)  # positions in file order
        if max(positions) >= len(of_digit):
            raise UserError(
                f"the CS236 {split} subset needs image {max(positions)} of digit {digit}, "
                f"but only {len(of_digit)} are given: pass the whole MNIST {split} set"
            )
        index.extend(of_digit[positions].tolist())
    return torch.tensor(index, device=x.device)
