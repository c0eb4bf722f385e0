"""The labelled stream of semi-supervised training: a small labelled set beside the unlabelled data.

`labelled_subset` picks the labelled images (the CS236 "train" lists, or n per class with a
seed); `SemiSupervisedBatcher` wraps the unlabelled batcher and a batcher over the labelled set
and returns one batch {"x": unlabelled, "x_labelled", "y_labelled"}. The unlabelled batch keeps
no labels. Both streams' states round-trip through `state_dict`, so resume stays exact.
"""

from __future__ import annotations

import torch
from torch import Tensor

from latentlab.data.batcher import Batcher
from latentlab.data.cs236 import cs236_label_subset
from latentlab.errors import UserError
from latentlab.batch import Batch


def labelled_subset(kind: str, train_x: Tensor, train_y: Tensor | None, *, per_class: int = 10,
                    seed: int = 0) -> tuple[Tensor, Tensor]:
    """The labelled images (grey, as in the dataset) and their labels.

    cs236: the 100 MNIST training images of the CS236 "train" lists (docs/protocols.md, section A), digits 0..9
    in order. per_class: `per_class` images of each class, drawn without replacement by a
    torch.Generator seeded `seed`, classes in order.
    """
    if train_y is None:
        raise UserError("data.labelled needs a dataset with labels (mnist, fashion_mnist, svhn)")
    if kind == "cs236":
        return cs236_label_subset(train_x, train_y)
    if kind != "per_class":
        raise ValueError(f"unknown labelled subset {kind!r}")
    g = torch.Generator().manual_seed(seed)
    labels = train_y.cpu()
    index = []
    for c in torch.unique(labels).tolist():
        of_class = torch.nonzero(labels == c).flatten()
        if len(of_class) < per_class:
            raise UserError(f"data.labels_per_class = {per_class}, but class {c} has only {len(of_class)} "
                            "training images; lower data.labels_per_class")
        index.append(of_class[torch.randperm(len(of_class), generator=g)[:per_class]])
    index = torch.cat(index).to(train_x.device)
    return train_x[index], train_y[index]


class SemiSupervisedBatcher:
    """Unlabelled batches of `unlabelled` plus the whole labelled set each step (the CS236 starter's
    choice for its 100 labels), binarized as the unlabelled x is (dynamic: a fresh draw per step).

    Under data parallelism the unlabelled batcher shards and every rank takes the same whole labelled
    set, so the averaged gradient is still gw·∇NELBO(global batch) + cw·∇CE(labelled set).
    """

    def __init__(self, unlabelled: Batcher, x_labelled: Tensor, y_labelled: Tensor, *, seed: int,
                 binarization: str = "none", binarize_seed: int = 0):
        self.unlabelled = unlabelled
        # seed + 2: the unlabelled batcher's streams use seed and seed + 1
        self.labelled = Batcher({"x": x_labelled, "y": y_labelled}, len(x_labelled), seed=seed + 2,
                                binarization=binarization, binarize_seed=binarize_seed)

    def next(self) -> Batch:
        labelled = self.labelled.next()
        return {"x": self.unlabelled.next()["x"], "x_labelled": labelled["x"], "y_labelled": labelled["y"]}

    def state_dict(self) -> dict:
        return {"unlabelled": self.unlabelled.state_dict(), "labelled": self.labelled.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.unlabelled.load_state_dict(state["unlabelled"])
        self.labelled.load_state_dict(state["labelled"])
