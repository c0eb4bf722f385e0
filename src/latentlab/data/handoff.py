"""The one hand-off of data/: `prepare(config, data_dir, device, run)` -> Data, the data as the model sees it.

Everything downstream (training, evaluation, figures, studies, bench) takes its data from a
`Data`: the test set already float and centre-cropped to data.crop, `x_shape`, what `kind` of
data it is, the two domains of a two-domain set, the labelled stream of semi-supervised
training, a table's statistics, the description run.json keeps, and the training batch stream.
Consumers branch on `kind` ("images", "points", "table") and on `own`; data.name is read only where a
protocol is defined for one dataset (the CS236 subset and the MNIST classifier need "mnist") or where a
generated distribution's exact density is drawn.

Seeds of the batch stream, all from train.seed: the order of x uses train.seed and its
binarization train.seed + 1 (data/batcher.py), the labelled stream train.seed + 2
(data/labelled.py), the crops and flips of x train.seed + 3; the two domains of unpaired
training take theirs in data/unpaired.py (seed, + 2, + 4, + 5).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from latentlab.batch import Batch
from latentlab.config import CYCLEGAN_RELEASES, Config, TrainConfig
from latentlab.data import toy2d
from latentlab.data.augment import RandomCropFlip, center_crop
from latentlab.data.batcher import Batcher, as_float
from latentlab.data.datasets import LOADERS, ImageData, load_images
from latentlab.data.labelled import SemiSupervisedBatcher, labelled_subset
from latentlab.data.memory import memory_path
from latentlab.data.own import load_own
from latentlab.data.root import data_root
from latentlab.data.unpaired import UnpairedBatcher
from latentlab.data.fingerprint import changed, fingerprint
from latentlab.device import resolve_device
from latentlab.errors import UserError

OWN = ("folder", "array", *CYCLEGAN_RELEASES, "memory")  # data.name of the user's own data (data/own.py)


@dataclass(frozen=True)
class Data:
    """The train and test data of a config as the model sees them.

    kind: "images" (N, C, H, W), "points" (N, 2) of a generated 2-D distribution, or "table" (N, D).
    own: the user's own data (a folder, an array file, a CycleGAN release, arrays handed to the API):
         a preset's published numbers do not apply to it, and its images are scored in bits per dim too.
    train_x: as read: images may be uint8 pixels and are cropped per batch by the stream.
    test_x: float32, centre-cropped to data.crop. test_y, train_y: int64 (N,) labels or None.
    classes: the label names (label i = classes[i]; empty: unnamed or none).
    feature_mean, feature_std: a standardised table's statistics, x = (raw - mean) / std.
    columns: a table's column names (empty: x0, x1, ...).
    fingerprint: what the data are, to notice a change between runs (data/fingerprint.py).
    """

    kind: str
    name: str
    own: bool
    train_x: Tensor
    train_y: Tensor | None
    test_x: Tensor
    test_y: Tensor | None
    classes: tuple[str, ...]
    config: Config
    feature_mean: Tensor | None = None
    feature_std: Tensor | None = None
    columns: tuple[str, ...] = ()
    fingerprint: dict | None = None

    @classmethod
    def of(cls, raw: ImageData, config: Config) -> Data:
        """Data as read (train and test tensors, labels, names), handed over as the model sees it under `config`."""
        kind = kind_of(config.data.name, tuple(raw.train_x.shape[1:]))
        if kind == "table" and config.data.binarize != "none":
            raise UserError(f"data.binarize = \"{config.data.binarize}\" is for images in [0, 1]; "
                            f"{config.data.path or config.data.name} is a table: set data.binarize = \"none\" "
                            "(and model.likelihood = \"gaussian\")")
        data = cls(kind, raw.name, config.data.name in OWN, raw.train_x, raw.train_y, raw.test_x, raw.test_y,
                   raw.classes, config, raw.feature_mean, raw.feature_std, raw.columns)
        return replace(data, test_x=data.centred(raw.test_x))

    @property
    def test_labelled(self) -> bool:
        """Whether the test set has labels."""
        return self.test_y is not None

    @property
    def x_shape(self) -> tuple[int, ...]:
        """The shape of one x the model sees (C, crop, crop under data.crop)."""
        return tuple(self.test_x.shape[1:])

    def where(self) -> str:
        """The data's name in messages: its path for a folder or an array file."""
        return self.config.data.path or self.name

    def domains(self, split: str = "test") -> tuple[Tensor, Tensor]:
        """The images of domain X (label 0) and of domain Y (label 1) of a two-domain set, as stored
        ("train": possibly uint8 and uncropped; "test": float, cropped)."""
        x, y = (self.train_x, self.train_y) if split == "train" else (self.test_x, self.test_y)
        if y is None or set(torch.unique(y).tolist()) != {0, 1}:
            raise UserError(f"{self.where()}: a translator needs a dataset of two domains, labelled 0 (X) and 1 (Y): "
                            "a folder holding trainA, trainB, testA and testB, or a release like "
                            "data.name = \"horse2zebra\"")
        return x[y == 0], x[y == 1]

    def require_labels(self, why: str) -> None:
        """UserError unless the training data have labels of at least two classes; `why` names who needs them."""
        if self.train_y is None:
            raise UserError(f"{self.where()}: {why} needs labels, and these data have none "
                            "(give an image folder class subfolders, or an array file y)")
        if len(self.train_y.unique()) < 2:
            raise UserError(f"{self.where()}: {why} needs labels of at least two classes, the training data hold one "
                            f"({', '.join(self.classes) or int(self.train_y[0])})")

    def check_labels(self, who: str, *, needed: bool, n_classes: int | None = None) -> None:
        """UserError where a model (`who`) that reads labels finds none, or where the labels run past its
        n_classes."""
        if needed:
            self.require_labels(who)
        if n_classes is not None and self.train_y is not None and int(self.train_y.max()) >= n_classes:
            raise UserError(f"model.n_classes = {n_classes} is not accepted: at least the "
                            f"{int(self.train_y.max()) + 1} classes of \"{self.name}\"")

    def labelled_set(self) -> tuple[Tensor, Tensor]:
        """The labelled set of semi-supervised training (data.labelled), grey as in the dataset."""
        d = self.config.data
        self.require_labels(f"data.labelled = \"{d.labelled}\"")
        return labelled_subset(d.labelled, self.train_x, self.train_y, per_class=d.labels_per_class,
                               seed=d.labelled_seed)

    def batches(self, train: TrainConfig, rank: int = 0, world_size: int = 1, *, keys: tuple[str, ...] = ("x",)):
        """The training batch stream for a model whose loss reads `keys`: two unpaired domains ("x",
        "x_b") for a translator, else x (and y), cropped and flipped under data.crop and data.flip,
        with the labelled stream beside it under data.labelled."""
        d = self.config.data
        if "x_b" in keys:
            x_X, x_Y = self.domains("train")
            return UnpairedBatcher(x_X, x_Y, train.batch_size, seed=train.seed, crop=d.crop, flip=d.flip,
                                   rank=rank, world_size=world_size)
        augment = RandomCropFlip(d.crop, d.flip, seed=train.seed + 3) if d.crop or d.flip else None
        tensors = {"x": self.train_x} if self.train_y is None else {"x": self.train_x, "y": self.train_y}
        stream = Batcher(tensors, train.batch_size, seed=train.seed, binarization=d.binarize,
                         binarize_seed=d.binarize_seed, rank=rank, world_size=world_size, augment=augment)
        if d.labelled == "none":
            return stream
        x_l, y_l = self.labelled_set()  # the whole labelled set beside each unlabelled batch
        return SemiSupervisedBatcher(stream, x_l, y_l, seed=train.seed, binarization=d.binarize,
                                     binarize_seed=d.binarize_seed)

    def examples(self, n: int = 8, *, keys: tuple[str, ...] = ("x",)) -> Batch:
        """A fixed batch of the first n training x as the model sees them (float, centre-cropped); a
        translator's has n of each domain, as x and x_b."""
        if "x_b" in keys:
            x_X, x_Y = self.domains("train")
            batch = {"x": x_X[:n], "x_b": x_Y[:n]}
        else:
            batch = {"x": self.train_x[:n]}
        return {k: self.view(v) for k, v in batch.items()}

    def centred(self, x: Tensor) -> Tensor:
        """Stored images centre-cropped to data.crop (as the test images are), their dtype kept."""
        return center_crop(x, self.config.data.crop) if self.config.data.crop else x

    def view(self, x: Tensor) -> Tensor:
        """Stored x as the model sees it: float (as_float) and centre-cropped to data.crop."""
        return as_float(self.centred(x))

    def describe(self) -> dict:
        """What run.json keeps of the data: its kind and x's shape (a model loads without its dataset),
        the class names, a table's standardisation and column names."""
        out: dict = {"kind": self.kind, "x_shape": list(self.x_shape)}
        if self.classes:
            out["classes"] = list(self.classes)
        if self.feature_mean is not None:
            out["standardize"] = {"mean": self.feature_mean.tolist(), "std": self.feature_std.tolist()}
        if self.columns:
            out["columns"] = list(self.columns)
        if self.fingerprint is not None:
            out["data_fingerprint"] = self.fingerprint
        return out

    def check_unchanged(self, run, *, accept: bool, doing: str, override: str) -> None:
        """UserError, naming the run and the change, if these data differ from those `run` recorded in run.json
        (`override` says how to go on anyway); with `accept`, one line on stderr and the run goes on `doing`."""
        change = changed(run.data_fingerprint, self.fingerprint)
        if change is not None:
            line = f"the data of {run.path} changed since the run last trained on them: {change}"
            if not accept:
                raise UserError(f"{line}; {override}, or restore the data")
            print(f"latentlab: {line}; {doing} on the data as they are now", file=sys.stderr)

    def summary(self) -> str:
        """One line saying what the data are, e.g. "the image folder photos/ (1,200 images, 3×64×64, 2 classes)"."""
        n, d = len(self.train_x) + len(self.test_x), self.x_shape
        size = {"images": f"{n:,} images, {'×'.join(str(s) for s in d)}", "points": f"{n:,} points in 2-D",
                "table": f"{n:,} rows of {d[0]} columns"}[self.kind]
        source = {"folder": f"the image folder {self.config.data.path}", "array": f"the array file {self.config.data.path}",
                  "memory": "arrays handed to latentlab.train(data=...)"}.get(self.config.data.name, self.name)
        classes = f", {len(self.classes)} classes" if self.classes else ""
        return f"{source} ({size}{classes})"


@dataclass(frozen=True)
class DataPlan:
    """What a config says of its data before any is read (the protocols' rules ask it when a config is
    checked): its name, its kind where the name alone decides it (None: the file decides), whether it is
    the user's own, and whether its test set is labelled (None: not known yet)."""

    name: str
    kind: str | None
    own: bool
    config: Config
    test_labelled: bool | None = None


def plan(config: Config) -> DataPlan:
    """The DataPlan of `config`."""
    name = config.data.name
    images = name in LOADERS or name in ("folder", *CYCLEGAN_RELEASES)
    kind = "points" if name in toy2d.RAW else "images" if images else None
    return DataPlan(name, kind, name in OWN, config)


def prepare(config: Config, data_dir=None, device: str | torch.device | None = None, *, run=None) -> Data:
    """The data of `config` as the model sees it, on `device` (default: the config's train.device).

    A generated 2-D distribution (seeded by data.seed), an image dataset from the data root
    (`data_dir`, else $LATENTLAB_DATA, else ./data) resized to data.image_size, or the user's own
    (data/own.py; data.name = "memory" reads the copy kept by the run directory `run`)."""
    raw = _read(config, data_dir, run)
    device = resolve_device(device or config.train.device)
    data = Data.of(replace(raw, **{k: v.to(device) for k, v in vars(raw).items() if isinstance(v, Tensor)}), config)
    return replace(data, fingerprint=fingerprint(config, data_root(data_dir), run))


def kind_of(name: str, x_shape: tuple[int, ...]) -> str:
    """The kind of the data data.name = `name` gives, with x of shape `x_shape` (the batch dim left out)."""
    return "points" if name in toy2d.RAW else "table" if len(x_shape) == 1 else "images"


def _read(config: Config, data_dir, run) -> ImageData:
    """The data of config.data as read, on the CPU."""
    d = config.data
    if d.name in OWN:
        path = memory_path(run) if d.name == "memory" else None
        return load_own(d, data_root(data_dir), path)
    if d.name in toy2d.RAW:  # generated: x is (N, 2)
        return toy2d.load_toy2d(d.name, d.n_train, d.n_test, d.seed)
    return resized(load_images(d.name, data_root(data_dir)), d.image_size)


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
