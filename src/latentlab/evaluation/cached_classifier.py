"""A small classifier trained here with one seed, once, then cached: the feature network of the
classifier-based metrics (evaluation/classifier_metrics.py: MNIST digits; evaluation/translation_metrics.py:
image domains).

Scores on such features compare only runs that share the network, so every result carries its name
and the SHA-256 of its safetensors file. The weights are cached in `$LATENTLAB_CACHE` (default
`~/.cache/latentlab`) under a name that holds the recipe and its seed; never in the data folder,
which may be read-only and shared. A weights file that does not match its recorded SHA-256 is
refused, not used.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from latentlab.errors import UserError
from latentlab.files import atomic_path, atomic_write, read_json

# a batch of images (B, ...) and the training loop's generator -> the batch the network sees
Augment = Callable[[Tensor, torch.Generator], Tensor]


@dataclass(frozen=True)
class Recipe:
    """How a classifier is trained: Adam with a one-cycle schedule over `epochs` passes of the first
    `n_train` training images (None: all), batches of `batch_size`, one seed."""

    seed: int = 0
    epochs: int = 1
    n_train: int | None = None
    batch_size: int = 128
    max_lr: float = 3e-3

    def record(self) -> dict[str, Any]:
        """The recipe as a classifier's record keeps it (n_train only where it is set)."""
        return {k: v for k, v in asdict(self).items() if k != "n_train" or v is not None}


class PenultimateFeatures(nn.Module):
    """A classifier's penultimate features as torchmetrics' FID and KID `feature` module expects: images in,
    (N, d) out. Any classifier with `features(x)` and `num_features` serves (MNIST digits, image domains)."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier, self.num_features = classifier, classifier.num_features

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier.features(x)


def default_cache_dir() -> Path:
    return Path(os.environ.get("LATENTLAB_CACHE") or Path.home() / ".cache" / "latentlab")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_classifier(build: Callable[[], nn.Module], x: Tensor, y: Tensor, recipe: Recipe,
                     augment: Augment | None = None) -> nn.Module:
    """The network `build()` trained by `recipe` on images x (N, ...) and labels y (N,) with cross-entropy;
    `augment` turns each batch of x into what the network sees. The caller's random stream is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        net = build().to(x.device)
        x, y = x[: recipe.n_train], y[: recipe.n_train]
        batch = min(recipe.batch_size, len(x))
        steps_per_epoch = len(x) // batch
        opt = torch.optim.Adam(net.parameters(), lr=recipe.max_lr / 25)
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.max_lr, total_steps=recipe.epochs * steps_per_epoch)
        g = torch.Generator().manual_seed(recipe.seed)
        net.train()
        for _ in range(recipe.epochs):
            order = torch.randperm(len(x), generator=g).to(x.device)
            for idx in order[: steps_per_epoch * batch].view(steps_per_epoch, -1):
                xb = x[idx] if augment is None else augment(x[idx], g)
                loss = F.cross_entropy(net(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
    return net.eval()


def cached_classifier(name: str, build: Callable[[], nn.Module], x: Tensor, y: Tensor, recipe: Recipe, *,
                      accuracy: Callable[[nn.Module], float], augment: Augment | None = None,
                      cache_dir: Path | None = None) -> tuple[nn.Module, dict]:
    """The classifier `name`: trained by `recipe` on (x, y) once (train_classifier), then read from the cache.

    `accuracy(net)` is its test accuracy in %. Returns the network (in eval mode) and its record:
    name, recipe, sha256 of the weights file, test accuracy, training seconds, torch version and
    threads, the file's path, and whether this call found it in the cache.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    weights, record_path = folder / f"{name}.safetensors", folder / f"{name}.json"
    if weights.exists() and record_path.exists():
        record = read_json(record_path, todo=f"delete it and {weights} to train the classifier again")
        if sha256(weights) != record.get("sha256"):
            raise UserError(f"{weights} does not match the SHA-256 in {record_path}; delete both to retrain it")
        with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: draw them off the caller's stream
            net = build().to(x.device)
        net.load_state_dict(load_file(weights, device=str(x.device)))
        return net.eval(), {**record, "path": str(weights), "cached": True}
    t0 = time.perf_counter()
    net = train_classifier(build, x, y, recipe, augment)
    train_s = time.perf_counter() - t0
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(tmp))
    record = {"name": name, "recipe": recipe.record(), "sha256": sha256(weights), "test_accuracy": accuracy(net),
              "train_s": round(train_s, 1), "torch": torch.__version__, "threads": torch.get_num_threads()}
    atomic_write(record_path, json.dumps(record, indent=2))
    return net, {**record, "path": str(weights), "cached": False}
