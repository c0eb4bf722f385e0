"""Translation quality without Inception weights: a small X-against-Y classifier, trained here with a
fixed seed on the two training domains at the evaluation resolution, judges the translations.

success   the share of G(x), x in test X, that the classifier assigns to Y (and of F(y) to X)
FID       ‖μ_r - μ_g‖² + Tr(Σ_r + Σ_g - 2(Σ_r Σ_g)^½) of the classifier's penultimate features
          (Heusel et al. 2017, eq. 6), by torchmetrics' FrechetInceptionDistance with `feature=` this net
KID       the unbiased MMD² with the cubic kernel k(a, b) = (aᵀb/d + 1)³ of the same features
          (Bińkowski et al. 2018, §3), mean and sd over random subsets, by torchmetrics
cycle     ‖F(G(x)) - x‖₁ and ‖G(F(y)) - y‖₁, identity ‖G(y) - y‖₁ and ‖F(x) - x‖₁: means over
          pixels in [0, 1] (half the model's [-1, 1] units)

Each distance stands beside two references: the untranslated images (test X against test Y) and
real against real (two seeded halves of one test domain). No Inception network is used: its
weights cannot be downloaded here, and such scores compare only runs that share the feature
network, so every result carries the classifier's name and the SHA-256 of its weights. The
weights are cached in `$LATENTLAB_CACHE` (evaluation/classifier_metrics.py), keyed by the
dataset, the resolution and the recipe.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from latentlab.data.batcher import as_float
from latentlab.data.handoff import Data
from latentlab.errors import UserError
from latentlab.evaluation.classifier_metrics import PenultimateFeatures, default_cache_dir, sha256
from latentlab.files import atomic_path, atomic_write, read_json

ARCHITECTURE = 1  # bump when DomainClassifier or the training loop changes: part of the cache key


class DomainClassifier(nn.Module):
    """x (B, C, H, W) -> four (3×3 stride-2 conv, BN, ReLU) stages (16, 32, 64, 128 maps) -> spatial mean
    -> 128 ReLU features -> 2 logits (0: X, 1: Y). The mean makes it work at any resolution."""

    num_features = 128  # torchmetrics reads this instead of probing with a dummy image

    def __init__(self, channels: int = 3):
        super().__init__()
        layers, c = [], channels
        for width in (16, 32, 64, 128):
            layers += [nn.Conv2d(c, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            c = width
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(c, self.num_features), nn.ReLU())
        self.head = nn.Linear(self.num_features, 2)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)  # (B, 128)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))  # (B, 2) logits


@dataclass(frozen=True)
class Recipe:
    """How the domain classifier is trained: Adam with a one-cycle schedule over `epochs` passes of
    both training domains (centre-cropped to the evaluation size, mirrored at random), one seed."""

    seed: int = 0
    epochs: int = 10
    batch_size: int = 32
    max_lr: float = 3e-3

    def name(self, data_name: str, size: int) -> str:
        return f"{data_name}-domain-classifier-a{ARCHITECTURE}-{size}px-seed{self.seed}-e{self.epochs}"


STANDARD = Recipe()  # the one every result should use
QUICK = Recipe(epochs=2)  # seconds; for tests and the quick budget only, not for comparing models


def train_domain_classifier(x: Tensor, y: Tensor, recipe: Recipe = STANDARD) -> DomainClassifier:
    """The classifier trained by `recipe` on images x (N, C, H, W) in [0, 1] (or uint8) and domain labels y (N,) in {0, 1}."""
    with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
        torch.manual_seed(recipe.seed)
        net = DomainClassifier(x.shape[1]).to(x.device)
        batch = min(recipe.batch_size, len(x))
        steps_per_epoch = len(x) // batch
        opt = torch.optim.Adam(net.parameters(), lr=recipe.max_lr / 25)
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.max_lr, total_steps=recipe.epochs * steps_per_epoch)
        g = torch.Generator().manual_seed(recipe.seed)
        net.train()
        for _ in range(recipe.epochs):
            order = torch.randperm(len(x), generator=g).to(x.device)
            for idx in order[: steps_per_epoch * batch].view(steps_per_epoch, -1):
                xb = as_float(x[idx])
                flip = (torch.rand(len(idx), generator=g) < 0.5).to(x.device)  # mirror half the batch
                xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
                loss = F.cross_entropy(net(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
    return net.eval()


@torch.no_grad()
def domain_of(classifier: DomainClassifier, x: Tensor, chunk: int = 64) -> Tensor:
    """The most probable domain (0: X, 1: Y) of each image, (N,)."""
    return torch.cat([classifier(as_float(xb)).argmax(-1) for xb in x.split(chunk)])


def domain_classifier(data: Data, recipe: Recipe = STANDARD,
                      cache_dir: Path | None = None) -> tuple[DomainClassifier, dict]:
    """The classifier of `recipe` for two-domain `data`, on its images as the model sees them (centre-cropped
    to data.crop), trained once, then cached.

    The record: name, recipe, test accuracy, sha256 of the weights file, its path, training seconds,
    and whether this call found it in the cache.
    """
    data.domains("train")  # a one-line error unless the labels are 0 (X) and 1 (Y)
    train_x, size = data.centred(data.train_x), data.x_shape[-1]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    name = recipe.name(data.name, size) + f"-n{len(train_x)}"
    weights, record_path = folder / f"{name}.safetensors", folder / f"{name}.json"
    device = train_x.device
    if weights.exists() and record_path.exists():
        record = read_json(record_path, todo=f"delete it and {weights} to train the classifier again")
        if sha256(weights) != record.get("sha256"):
            raise UserError(f"{weights} does not match the SHA-256 in {record_path}; delete both to retrain it")
        net = DomainClassifier(train_x.shape[1]).to(device)
        net.load_state_dict(load_file(weights, device=str(device)))
        return net.eval(), {**record, "path": str(weights), "cached": True}
    t0 = time.perf_counter()
    net = train_domain_classifier(train_x, data.train_y, recipe)
    train_s = time.perf_counter() - t0
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(tmp))
    accuracy = 100.0 * float((domain_of(net, data.test_x) == data.test_y.to(device)).double().mean())
    record = {"name": name, "recipe": asdict(recipe), "sha256": sha256(weights), "test_accuracy": accuracy,
              "train_s": round(train_s, 1), "torch": torch.__version__, "threads": torch.get_num_threads()}
    atomic_write(record_path, json.dumps(record, indent=2))
    return net, {**record, "path": str(weights), "cached": False}


@torch.no_grad()
def distances(classifier: DomainClassifier, x: Tensor, reference: Tensor, *, seed: int = 0, chunk: int = 64) -> dict:
    """FID and KID (mean, sd) of images x against `reference`, both (N, C, H, W) in [0, 1], on the classifier's features."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    classifier.eval()
    features = PenultimateFeatures(classifier)
    fid = FrechetInceptionDistance(feature=features).to(x.device)
    subset = min(50, len(x), len(reference))
    with warnings.catch_warnings():  # "Metric `Kernel Inception Distance` will save all extracted features"
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=features, subset_size=subset).to(x.device)
    for images, real in ((x, False), (reference, True)):
        for xb in images.split(chunk):
            fid.update(as_float(xb), real=real)
            kid.update(as_float(xb), real=real)
    with torch.random.fork_rng(devices=[]):  # KID draws its subsets from the global stream
        torch.manual_seed(seed)
        kid_mean, kid_sd = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_sd": float(kid_sd)}


def halves(x: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    """Two disjoint halves of x by a seeded permutation (real against real)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed)).to(x.device)
    return x[order[: len(x) // 2]], x[order[len(x) // 2: 2 * (len(x) // 2)]]


@torch.no_grad()
def translate_all(model, chunk: int = 16, **images: Tensor) -> Tensor:
    """model.translate in chunks of `chunk` images (a 256 px generator holds large activations)."""
    (key, x), = images.items()
    return torch.cat([model.translate(**{key: xb.float()}) for xb in x.split(chunk)])


def l1(a: Tensor, b: Tensor) -> float:
    """‖a - b‖₁ as a mean over pixels (both in [0, 1])."""
    return float((a - b).abs().mean())


def translation_quality(model, classifier: DomainClassifier, x: Tensor, y: Tensor, seed: int = 0) -> dict:
    """The sections of the translation protocol for test images x (domain X) and y (domain Y)."""
    G_x, F_y = translate_all(model, x=x), translate_all(model, x_b=y)  # (N_X, C, H, W), (N_Y, C, H, W)
    F_G_x, G_F_y = translate_all(model, x_b=G_x), translate_all(model, x=F_y)
    G_y, F_x = translate_all(model, x=y), translate_all(model, x_b=x)
    share = lambda images, domain: 100.0 * float((domain_of(classifier, images) == domain).double().mean())  # noqa: E731
    x1, x2 = halves(x, seed)
    y1, y2 = halves(y, seed + 1)
    return {
        "X_to_Y": {"success": share(G_x, 1), **distances(classifier, G_x, y, seed=seed),
                   "cycle_l1": l1(F_G_x, x), "identity_l1": l1(G_y, y)},
        "Y_to_X": {"success": share(F_y, 0), **distances(classifier, F_y, x, seed=seed),
                   "cycle_l1": l1(G_F_y, y), "identity_l1": l1(F_x, x)},
        "untranslated": {"X_as_Y": share(x, 1), "Y_as_X": share(y, 0), **distances(classifier, x, y, seed=seed)},
        "real_X": distances(classifier, x1, x2, seed=seed),
        "real_Y": distances(classifier, y1, y2, seed=seed),
    }


def translation_protocol(model, data, config, recipe: Recipe = STANDARD, cache_dir: Path | None = None) -> dict:
    """eval.protocol = "translation": translation_quality on the test domains, beside its references."""
    x, y = data.domains("test")
    size = x.shape[-1]
    classifier, record = domain_classifier(data, recipe, cache_dir)
    seed = config.train.seed
    sections = translation_quality(model, classifier, x, y, seed)
    titles = {"X_to_Y": f"G: X -> Y, {len(x)} test images of X (FID, KID against test Y)",
              "Y_to_X": f"F: Y -> X, {len(y)} test images of Y (FID, KID against test X)",
              "untranslated": "untranslated: test X against test Y (the reference to beat)",
              "real_X": "real against real: two halves of test X (the floor)",
              "real_Y": "real against real: two halves of test Y (the floor)"}
    protocol = {"name": "translation", "seed": seed, "resolution": size,
                "features": ("the penultimate features of a domain classifier trained here, not Inception: "
                             "no pretrained weights can be downloaded, and the scores compare only runs that "
                             "share this classifier (its name and SHA-256 below)"),
                "pixels": "L1 errors are means over pixels in [0, 1]",
                "classifier": {k: record[k] for k in ("name", "sha256", "test_accuracy", "recipe")}}
    fwd, bwd, raw = sections["X_to_Y"], sections["Y_to_X"], sections["untranslated"]
    checks = [
        {"name": "translation success ≥ 80 %: G(x) classified as Y", "passed": fwd["success"] >= 80.0,
         "value": fwd["success"]},
        {"name": "translation success ≥ 80 %: F(y) classified as X", "passed": bwd["success"] >= 80.0,
         "value": bwd["success"]},
        {"name": "FID(G(x), Y) ≤ ½ FID(X, Y) untranslated", "passed": fwd["fid"] <= 0.5 * raw["fid"],
         "value": fwd["fid"]},
        {"name": "FID(F(y), X) ≤ ½ FID(Y, X) untranslated", "passed": bwd["fid"] <= 0.5 * raw["fid"],
         "value": bwd["fid"]},
    ]
    return {"protocol": protocol, "sections": sections, "section_titles": titles, "reference": None,
            "checks": checks}
