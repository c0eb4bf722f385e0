"""MNIST sample quality without Inception weights: a small classifier, trained here with a fixed
seed, supplies the features of a Fréchet distance and the class probabilities of an Inception score.

FID   ‖μ_r - μ_g‖² + Tr(Σ_r + Σ_g - 2(Σ_r Σ_g)^½) of the classifier's penultimate features
      (Heusel et al. 2017, eq. 6), by torchmetrics' FrechetInceptionDistance with `feature=` this net
IS    exp(E_x KL(p(y|x) ‖ p(y))) of the classifier's softmax (Salimans et al. 2016, §4), mean and sd
      over 10 splits, by torchmetrics' InceptionScore; 10 classes bound it by 10
class frequencies   the share of samples whose most probable class is k; `class_tv` is their total
      variation distance ½Σ|f_k - f_k^test| to the test set's label frequencies

Such scores compare only runs that share the feature network, so every result carries the
network's name and the SHA-256 of its safetensors file. The trained weights are cached in
`$LATENTLAB_CACHE` (default `~/.cache/latentlab`), keyed by the recipe and its seed; never in
the data folder, which may be read-only and shared.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from latentlab.errors import UserError
from latentlab.files import atomic_path, atomic_write, read_json

ARCHITECTURE = 1  # bump when MNISTClassifier or the training loop changes: part of the cache key


class MNISTClassifier(nn.Module):
    """x (B, 1, 28, 28) -> two (3×3 conv, BN, ReLU, 2×2 max-pool) stages (16, 32 maps) -> 128 ReLU features -> 10 logits."""

    num_features = 128  # torchmetrics reads this instead of probing with a dummy image

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, self.num_features), nn.ReLU(),
        )
        self.head = nn.Linear(self.num_features, 10)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)  # (B, 128)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))  # (B, 10) logits


class PenultimateFeatures(nn.Module):
    """A classifier's penultimate features as torchmetrics' FID and KID `feature` module expects: images in,
    (N, d) out. Any classifier with `features(x)` and `num_features` serves (MNIST digits, image domains)."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier, self.num_features = classifier, classifier.num_features

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier.features(x)


@dataclass(frozen=True)
class Recipe:
    """How the feature classifier is trained: Adam with a one-cycle schedule over `epochs` passes of
    the first `n_train` training images (grey, pixel/255), batches of `batch_size`, one seed."""

    seed: int = 0
    epochs: int = 3
    n_train: int = 60_000
    batch_size: int = 128
    max_lr: float = 3e-3

    @property
    def name(self) -> str:
        return f"mnist-classifier-a{ARCHITECTURE}-seed{self.seed}-e{self.epochs}-n{self.n_train}"


STANDARD = Recipe()  # ≈ 99.2 % test accuracy (measured: see the study reports); the one every result should use
QUICK = Recipe(epochs=1, n_train=5_000)  # seconds; for tests and the quick budget only, not for comparing models


def default_cache_dir() -> Path:
    return Path(os.environ.get("LATENTLAB_CACHE") or Path.home() / ".cache" / "latentlab")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_classifier(x: Tensor, y: Tensor, recipe: Recipe = STANDARD) -> MNISTClassifier:
    """The classifier trained by `recipe` on images x (N, 1, 28, 28) in [0, 1] and labels y (N,)."""
    with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
        torch.manual_seed(recipe.seed)
        net = MNISTClassifier().to(x.device)
        x, y = x[: recipe.n_train], y[: recipe.n_train]
        steps_per_epoch = len(x) // recipe.batch_size
        opt = torch.optim.Adam(net.parameters(), lr=recipe.max_lr / 25)
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.max_lr, total_steps=recipe.epochs * steps_per_epoch)
        g = torch.Generator().manual_seed(recipe.seed)
        net.train()
        for _ in range(recipe.epochs):
            order = torch.randperm(len(x), generator=g).to(x.device)
            for idx in order[: steps_per_epoch * recipe.batch_size].view(steps_per_epoch, -1):
                loss = F.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
    return net.eval()


@torch.no_grad()
def test_accuracy(classifier: MNISTClassifier, x: Tensor, y: Tensor, chunk: int = 2_000) -> float:
    """Percentage of x whose most probable class is its label."""
    correct = sum(int((classifier(xb).argmax(-1) == yb).sum()) for xb, yb in zip(x.split(chunk), y.split(chunk)))
    return 100.0 * correct / len(x)


def feature_classifier(data, recipe: Recipe = STANDARD, cache_dir: Path | None = None) -> tuple[MNISTClassifier, dict]:
    """The classifier of `recipe` for MNIST `data` (ImageData) and its record, trained once and then cached.

    The record: name, recipe, test accuracy, sha256 of the weights file, its path, training
    seconds, and whether this call found it in the cache.
    """
    if data.name != "mnist" or data.train_y is None or tuple(data.train_x.shape[1:]) != (1, 28, 28):
        raise UserError(f"the feature classifier is trained on MNIST (1×28×28, labelled); got \"{data.name}\" "
                        f"{tuple(data.train_x.shape[1:])}: set data.name = \"mnist\" and data.image_size = []")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    weights, record_path = folder / f"{recipe.name}.safetensors", folder / f"{recipe.name}.json"
    net = MNISTClassifier().to(data.train_x.device)
    if weights.exists() and record_path.exists():
        record = read_json(record_path, todo=f"delete it and {weights} to train the classifier again")
        if sha256(weights) != record.get("sha256"):
            raise UserError(f"{weights} does not match the SHA-256 in {record_path}; delete both to retrain it")
        net.load_state_dict(load_file(weights, device=str(data.train_x.device)))
        return net.eval(), {**record, "path": str(weights), "cached": True}
    t0 = time.perf_counter()
    net = train_classifier(data.train_x, data.train_y, recipe)
    train_s = time.perf_counter() - t0
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(tmp))
    record = {"name": recipe.name, "recipe": asdict(recipe), "sha256": sha256(weights),
              "test_accuracy": test_accuracy(net, data.test_x, data.test_y), "train_s": round(train_s, 1),
              "torch": torch.__version__, "threads": torch.get_num_threads()}
    atomic_write(record_path, json.dumps(record, indent=2))
    return net, {**record, "path": str(weights), "cached": False}


@torch.no_grad()
def sample_quality(classifier: MNISTClassifier, x: Tensor, reference: Tensor, reference_y: Tensor, *,
                   splits: int = 10, chunk: int = 2_000, seed: int = 0) -> dict:
    """FID of images x against `reference` (both (N, 1, 28, 28) in [0, 1]), IS of x, and x's class frequencies.

    Returns {"fid", "is", "is_sd", "class_tv", "min_class_freq", "class_freq": [10 shares]}.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore

    classifier.eval()
    fid = FrechetInceptionDistance(feature=PenultimateFeatures(classifier), normalize=True).to(x.device)
    with warnings.catch_warnings():  # "InceptionScore will save all extracted features": 10 numbers each
        warnings.simplefilter("ignore", UserWarning)
        inception = InceptionScore(feature=classifier, splits=splits).to(x.device)
    for xb in x.split(chunk):
        fid.update(xb, real=False)
        inception.update(xb)  # keeps the logits
    for xb in reference.split(chunk):
        fid.update(xb, real=True)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():  # InceptionScore shuffles before splitting
        torch.manual_seed(seed)
        warnings.simplefilter("ignore", UserWarning)  # the sd of a single split is NaN
        is_mean, is_sd = inception.compute()
    counts = torch.bincount(torch.cat(inception.features).argmax(-1).cpu(), minlength=10).double()
    freq = counts / counts.sum()
    label_freq = torch.bincount(reference_y.cpu(), minlength=10).double() / len(reference_y)
    return {"fid": float(fid.compute()), "is": float(is_mean), "is_sd": float(is_sd),
            "class_tv": float(0.5 * (freq - label_freq).abs().sum()), "min_class_freq": float(freq.min()),
            "class_freq": [round(float(f), 4) for f in freq]}


def real_floor(classifier: MNISTClassifier, data, n: int, seed: int = 0) -> dict:
    """sample_quality of n training images (a seeded draw) against the test set: what a perfect sampler scores."""
    idx = torch.randperm(len(data.train_x), generator=torch.Generator().manual_seed(seed))[:n].to(data.train_x.device)
    return sample_quality(classifier, data.train_x[idx], data.test_x, data.test_y, seed=seed)


@torch.no_grad()
def model_samples(model, n: int, seed: int, chunk: int = 2_000) -> dict[str, Tensor]:
    """{"samples": x ~ p(x)} and, for a decoder with a latent prior, {"decoder_means": E[x|z], z ~ p(z)}."""
    from latentlab.models.base import Decoder, LatentPrior

    g = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    if isinstance(model, Decoder) and isinstance(model, LatentPrior):
        z = torch.cat([model.sample_z(min(chunk, n - i), generator=g) for i in range(0, n, chunk)])
        return {"samples": torch.cat([model.sample_x_given_z(zb, generator=g) for zb in z.split(chunk)]).clamp(0, 1),
                "decoder_means": torch.cat([model.decode(zb) for zb in z.split(chunk)]).clamp(0, 1)}
    return {"samples": torch.cat([model.sample(min(chunk, n - i), generator=g) for i in range(0, n, chunk)]).clamp(0, 1)}


def samples_mnist_protocol(model, data, config, recipe: Recipe = STANDARD, cache_dir: Path | None = None) -> dict:
    """eval.protocol = "samples_mnist": sample_quality of as many model samples as test images, beside the floor."""
    classifier, record = feature_classifier(data, recipe, cache_dir)
    n, seed = len(data.test_x), config.train.seed
    sections, freqs = {}, {}
    for kind, x in model_samples(model, n, seed).items():
        q = sample_quality(classifier, x, data.test_x, data.test_y, seed=seed)
        freqs[kind] = q.pop("class_freq")
        sections[kind] = q
    floor = real_floor(classifier, data, n, seed)
    freqs["floor"] = floor.pop("class_freq")
    sections["floor"] = floor
    titles = {"samples": f"x ~ p(x), {n:,} samples vs the test set", "decoder_means": f"E[x|z], z ~ p(z), {n:,}",
              "floor": f"real: {n:,} training images vs the test set (the floor)"}
    protocol = {"name": "samples_mnist", "n_samples": n, "seed": seed, "reference_set": "MNIST test set",
                "classifier": {k: record[k] for k in ("name", "sha256", "test_accuracy", "recipe")}}
    checks = [{"name": f"feature classifier test accuracy ≥ 99 % ({record['name']})",
               "passed": record["test_accuracy"] >= 99.0, "value": record["test_accuracy"]}]
    return {"protocol": protocol, "sections": sections, "section_titles": {k: titles[k] for k in sections},
            "reference": None, "checks": checks, "class_freq": freqs}
