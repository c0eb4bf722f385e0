"""What a run takes from its data: the training batcher, the checks that data and config fit,
and the description of the data a run keeps in run.json.

Batcher seeds: the stream of x uses train.seed (order) and train.seed + 1 (binarization), the
labelled stream of semi-supervised runs train.seed + 2 (data/labelled.py), the augmentation of
x train.seed + 3; the two domains of unpaired training take theirs in data/unpaired.py.
"""

from __future__ import annotations

from latentlab.data.augment import RandomCropFlip
from latentlab.data.batcher import Batcher
from latentlab.data.datasets import ImageData
from latentlab.data.unpaired import UnpairedBatcher, split_domains
from latentlab.errors import UserError

LABELLED_MODELS = ("cvae",)  # models whose batches must carry labels "y"


def training_batcher(data: ImageData, config, rank: int = 0, world_size: int = 1, *, unpaired: bool = False):
    """The batcher of the training data: x (and y), randomly cropped to data.crop and flipped under
    data.flip (data/augment.py); with `unpaired` two streams, x of domain X (label 0) and x_b of Y (label 1)."""
    if unpaired:
        x_X, x_Y = split_domains(data.train_x, data.train_y)
        return UnpairedBatcher(x_X, x_Y, config.train.batch_size, seed=config.train.seed, crop=config.data.crop,
                               flip=config.data.flip, rank=rank, world_size=world_size)
    augment = RandomCropFlip(config.data.crop, config.data.flip, seed=config.train.seed + 3) \
        if config.data.crop or config.data.flip else None
    tensors = {"x": data.train_x} if data.train_y is None else {"x": data.train_x, "y": data.train_y}
    return Batcher(tensors, config.train.batch_size, seed=config.train.seed, binarization=config.data.binarize,
                   binarize_seed=config.data.binarize_seed, rank=rank, world_size=world_size, augment=augment)


def check_fit(data: ImageData, config) -> None:
    """UserError where the data cannot serve the config: labels a model needs, binarizing a table,
    a batch larger than the training set."""
    where = config.data.path or config.data.name
    needs_labels = config.data.labelled != "none" or config.model.name in LABELLED_MODELS
    if needs_labels:
        why = f"model.name = \"{config.model.name}\"" if config.model.name in LABELLED_MODELS else \
            f"data.labelled = \"{config.data.labelled}\""
        if data.train_y is None:
            raise UserError(f"{where}: {why} needs labels, and these data have none "
                            "(give an image folder class subfolders, or an array file y)")
        if len(data.train_y.unique()) < 2:
            raise UserError(f"{where}: {why} needs labels of at least two classes, the training data hold one "
                            f"({', '.join(data.classes) or int(data.train_y[0])})")
    if data.train_x.dim() == 2 and config.data.binarize != "none":
        raise UserError(f"data.binarize = \"{config.data.binarize}\" is for images in [0, 1]; {where} is a table: "
                        "set data.binarize = \"none\" (and model.likelihood = \"gaussian\")")
    if config.train.batch_size > len(data.train_x):
        raise UserError(f"{where}: train.batch_size = {config.train.batch_size} is larger than the "
                        f"{len(data.train_x)} training examples; lower train.batch_size")


def data_description(data: ImageData) -> dict:
    """What run.json keeps of the data: x's shape, the class names, a table's standardisation."""
    out: dict = {"x_shape": list(data.test_x.shape[1:])}
    if data.classes:
        out["classes"] = list(data.classes)
    if data.feature_mean is not None:
        out["standardize"] = {"mean": data.feature_mean.tolist(), "std": data.feature_std.tolist()}
    return out
