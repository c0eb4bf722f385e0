"""Image sample quality without Inception weights: a small classifier of 1×28×28 images (MNIST digits,
Fashion-MNIST clothes), trained here with a fixed seed for each dataset, supplies the features of a
Fréchet distance and of precision and recall, and the class probabilities of an Inception score.

FID   ‖μ_r - μ_g‖² + Tr(Σ_r + Σ_g - 2(Σ_r Σ_g)^½) of the classifier's penultimate features
      (Heusel et al. 2017, eq. 6), by torchmetrics' FrechetInceptionDistance on those features
IS    exp(E_x KL(p(y|x) ‖ p(y))) of the classifier's softmax (Salimans et al. 2016, §4), mean and sd
      over 10 splits, by torchmetrics' InceptionScore; 10 classes bound it by 10
precision, recall   the share of samples inside the test set's k-NN manifold and of test images inside
      the samples' one, k = 3, on the same penultimate features (Kynkäänniemi et al. 2019, §2;
      evaluation/precision_recall.py)
class frequencies   the share of samples whose most probable class is k; `class_tv` is their total
      variation distance ½Σ|f_k - f_k^test| to the test set's label frequencies

Such scores compare only runs that share the feature network: it is trained once per dataset and
cached with its SHA-256 (evaluation/cached_classifier.py), and every result carries its name and that hash.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from latentlab.checks import Check
from latentlab.errors import UserError
from latentlab.evaluation.cached_classifier import Recipe, cached_classifier
from latentlab.evaluation.precision_recall import K, precision_recall

ARCHITECTURE = 1  # bump when MNISTClassifier or the training loop (cached_classifier.py) changes: part of the cache key


class MNISTClassifier(nn.Module):
    """x (B, 1, 28, 28) -> two (3×3 conv, BN, ReLU, 2×2 max-pool) stages (16, 32 maps) -> 128 ReLU features -> 10 logits.
    The feature network of MNIST and of Fashion-MNIST alike (each trained on its own data)."""

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


class GivenFeatures(nn.Module):
    """The identity, as torchmetrics' FID and IS `feature` module: they are handed features already computed."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features  # torchmetrics reads this instead of probing with a dummy input

    def forward(self, features: Tensor) -> Tensor:
        return features


# ≈ 99.2 % test accuracy (measured: see the study reports); the one every result should use
STANDARD = Recipe(epochs=3, n_train=60_000, batch_size=128)
QUICK = Recipe(epochs=1, n_train=5_000, batch_size=128)  # seconds; for tests and the quick budget only, not for comparing models
RECIPES = {"standard": STANDARD, "quick": QUICK}  # eval.classifier
# Fashion-MNIST is harder for this net: 5 epochs reach 92.0 % test accuracy (3 give 91.2 %), about 1.5 minutes
# on an idle core (5/3 of the MNIST recipe's 53 s; 216 s measured beside other jobs on 2 cores)
FASHION_STANDARD = Recipe(epochs=5, n_train=60_000, batch_size=128)
FASHION_RECIPES = {"standard": FASHION_STANDARD, "quick": QUICK}  # quick: MNIST's recipe, weights of its own


@dataclass(frozen=True)
class FeatureData:
    """A labelled 1×28×28 dataset with a feature classifier of its own: its title, the protocol that scores
    its samples, the prefix of the classifier's cache name, its recipes by eval.classifier, and the test
    accuracy the protocol checks the standard classifier reaches."""

    title: str
    protocol: str
    prefix: str
    recipes: dict[str, Recipe]
    min_accuracy: float


DATASETS = {  # data.name -> its feature classifier
    "mnist": FeatureData("MNIST", "samples_mnist", "mnist", RECIPES, 99.0),
    # 92.0 % measured; the check allows a point less, since a retrain on another CPU, torch version or thread count
    # draws other weights (another SHA-256) and moves the accuracy by some tenths: it catches a broken or
    # undertrained classifier, not that spread
    "fashion_mnist": FeatureData("Fashion-MNIST", "samples_fashion", "fashion", FASHION_RECIPES, 91.0),
}


def classifier_name(recipe: Recipe, data_name: str = "mnist") -> str:
    """The cache key of the feature classifier of `data_name` trained by `recipe`."""
    prefix = DATASETS[data_name].prefix
    return f"{prefix}-classifier-a{ARCHITECTURE}-seed{recipe.seed}-e{recipe.epochs}-n{recipe.n_train}"


@torch.no_grad()
def test_accuracy(classifier: MNISTClassifier, x: Tensor, y: Tensor, chunk: int = 2_000) -> float:
    """Percentage of x whose most probable class is its label."""
    correct = sum(int((classifier(xb).argmax(-1) == yb).sum()) for xb, yb in zip(x.split(chunk), y.split(chunk)))
    return 100.0 * correct / len(x)


def feature_classifier(data, recipe: Recipe | None = None,
                       cache_dir: Path | None = None) -> tuple[MNISTClassifier, dict]:
    """The classifier of `recipe` (default: the dataset's standard one) for MNIST or Fashion-MNIST `data`
    (ImageData) and its record, trained once and then cached.

    The record: name, recipe, test accuracy, sha256 of the weights file, its path, training
    seconds, and whether this call found it in the cache.
    """
    if data.name not in DATASETS or data.train_y is None or tuple(data.train_x.shape[1:]) != (1, 28, 28):
        raise UserError(f"the feature classifiers are trained on MNIST and Fashion-MNIST (1×28×28, labelled); got "
                        f"\"{data.name}\" {tuple(data.train_x.shape[1:])}: set data.name = \"mnist\" or "
                        "\"fashion_mnist\" and data.image_size = []")
    recipe = recipe or DATASETS[data.name].recipes["standard"]
    return cached_classifier(classifier_name(recipe, data.name), MNISTClassifier, data.train_x, data.train_y, recipe,
                             accuracy=lambda net: test_accuracy(net, data.test_x, data.test_y), cache_dir=cache_dir)


@torch.no_grad()
def sample_quality(classifier: MNISTClassifier, x: Tensor, reference: Tensor, reference_y: Tensor, *,
                   splits: int = 10, chunk: int = 2_000, seed: int = 0, k: int = K) -> dict:
    """FID, precision and recall of images x against `reference` (both (N, 1, 28, 28) in [0, 1]), IS of x, and
    x's class frequencies. `classifier` gives features(x) (B, d) and head(features) (B, 10) logits: the network
    reads each image once, and FID, precision and recall share its features.

    Returns {"fid", "is", "is_sd", "precision", "recall", "class_tv", "min_class_freq", "class_freq": [10 shares]}.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore

    classifier.eval()
    fid = FrechetInceptionDistance(feature=GivenFeatures(classifier.num_features), normalize=True).to(x.device)
    with warnings.catch_warnings():  # "InceptionScore will save all extracted features": 10 numbers each
        warnings.simplefilter("ignore", UserWarning)
        inception = InceptionScore(feature=GivenFeatures(10), splits=splits).to(x.device)
    fake, real = [], []
    for xb in x.split(chunk):
        fake.append(classifier.features(xb))  # (B, d)
        fid.update(fake[-1], real=False)
        inception.update(classifier.head(fake[-1]))  # keeps the logits
    for xb in reference.split(chunk):
        real.append(classifier.features(xb))
        fid.update(real[-1], real=True)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():  # InceptionScore shuffles before splitting
        torch.manual_seed(seed)
        warnings.simplefilter("ignore", UserWarning)  # the sd of a single split is NaN
        is_mean, is_sd = inception.compute()
    precision, recall = precision_recall(torch.cat(real), torch.cat(fake), k)
    counts = torch.bincount(torch.cat(inception.features).argmax(-1).cpu(), minlength=10).double()
    freq = counts / counts.sum()
    label_freq = torch.bincount(reference_y.cpu(), minlength=10).double() / len(reference_y)
    return {"fid": float(fid.compute()), "is": float(is_mean), "is_sd": float(is_sd),
            "precision": precision, "recall": recall,
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


def samples_protocol(model, data, config, recipe: Recipe | None = None, cache_dir: Path | None = None) -> dict:
    """eval.protocol = "samples_mnist" or "samples_fashion" (the one of data.name, in DATASETS): sample_quality
    of as many model samples as test images, beside the floor. The classifier's recipe is eval.classifier's
    unless `recipe` is given; eval.n_test > 0 scores the first n test images."""
    dataset = DATASETS[data.name]
    classifier, record = feature_classifier(data, recipe or dataset.recipes[config.eval.classifier], cache_dir)
    reference_set = f"{dataset.title} test set"
    if config.eval.n_test:
        data = replace(data, test_x=data.test_x[: config.eval.n_test], test_y=data.test_y[: config.eval.n_test])
        reference_set = f"the first {len(data.test_x):,} images of the {dataset.title} test set"
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
    protocol = {"name": dataset.protocol, "n_samples": n, "seed": seed, "reference_set": reference_set,
                "precision_recall_k": K,
                "classifier": {k: record[k] for k in ("name", "sha256", "test_accuracy", "recipe")}}
    checks = [Check(f"feature classifier test accuracy ≥ {dataset.min_accuracy:g} % ({record['name']})",
                    record["test_accuracy"] >= dataset.min_accuracy, record["test_accuracy"])]
    return {"protocol": protocol, "sections": sections, "section_titles": {k: titles[k] for k in sections},
            "reference": None, "checks": checks, "class_freq": freqs}
