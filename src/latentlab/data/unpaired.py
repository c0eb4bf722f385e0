"""Unpaired batches for translation between two domains: {"x": images of X, "x_b": images of Y}.

Each domain is its own stream: its own seeded permutation (a Batcher) and its own crop/flip
draws, so the two are shuffled independently and an image of X meets a different image of Y
each epoch (Zhu et al. 2017 train on unpaired data; the reference implementation draws B at a
random index for each A). Both streams' states round-trip through `state_dict`, so a resumed
run sees the same pairs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from latentlab.batch import Batch
from latentlab.data.augment import RandomCropFlip
from latentlab.data.batcher import Batcher, as_float
from latentlab.errors import UserError


class UnpairedBatcher:
    """Batches of `batch_size` images from each domain, cropped to `crop` (0: as they are) and flipped
    left-right with probability ½ if `flip`. Seeds: X's order seed, Y's order seed + 2
    (each Batcher keeps seed + 1 for binarization), X's crops seed + 4, Y's seed + 5."""

    def __init__(self, x_X: Tensor, x_Y: Tensor, batch_size: int, *, seed: int, crop: int = 0, flip: bool = False,
                 rank: int = 0, world_size: int = 1):
        if min(len(x_X), len(x_Y)) < batch_size:
            raise UserError(f"train.batch_size = {batch_size} is larger than a domain "
                            f"({len(x_X)} images of X, {len(x_Y)} of Y); lower it")
        self.rank, self.world_size = rank, world_size
        self.X = Batcher({"x": x_X}, batch_size, seed=seed, rank=rank, world_size=world_size)
        self.Y = Batcher({"x": x_Y}, batch_size, seed=seed + 2, rank=rank, world_size=world_size)
        self.augment_X = RandomCropFlip(crop, flip, seed=seed + 4)
        self.augment_Y = RandomCropFlip(crop, flip, seed=seed + 5)

    def next(self) -> Batch:
        x = self.augment_X(self.X.next()["x"], self.rank, self.world_size)
        x_b = self.augment_Y(self.Y.next()["x"], self.rank, self.world_size)
        return {"x": as_float(x), "x_b": as_float(x_b)}

    def state_dict(self) -> dict:
        return {"X": self.X.state_dict(), "Y": self.Y.state_dict(),
                "augment_X": self.augment_X.state_dict(), "augment_Y": self.augment_Y.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.X.load_state_dict(state["X"])
        self.Y.load_state_dict(state["Y"])
        self.augment_X.load_state_dict(state["augment_X"])
        self.augment_Y.load_state_dict(state["augment_Y"])

