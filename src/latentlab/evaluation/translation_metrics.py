"""Translation quality without Inception weights: a small X-against-Y classifier, trained here with a
fixed seed on the two training domains at the evaluation resolution, judges the translations.

success   the share of G(x), x in test X, that the classifier assigns to Y (and of F(y) to X)
FID       ‖μ_r - μ_g‖² + Tr(Σ_r + Σ_g - 2(Σ_r Σ_g)^½) of the classifier's penultimate features
          (Heusel et al. 2017, eq. 6), by torchmetrics' FrechetInceptionDistance with `feature=` this net
KID       the unbiased MMD² with the cubic kernel k(a, b) = (aᵀb/d + 1)³ of the same features
          (Bińkowski et al. 2018, §3), mean and sd over random subsets, by torchmetrics
cycle     ‖F(G(x)) - x‖₁ and ‖G(F(y)) - y‖₁, identity ‖G(y) - y‖₁ and ‖F(x) - x‖₁: means over
          pixels in [0, 1] (half the model's [-1, 1] units)

Two judges of the same recipe: the colour judge sees the images, the colour-blind one only their
luminance Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), so its success (`success_grey`) measures a
change of shape and texture apart from a change of colour. Each translator is scored beside two
trivial ones that learn no shape (evaluation/trivial_translators.py: the identity and a per-channel
colour transfer), with the same judges, test images and checks.

Each distance stands beside two references: the untranslated images (test X against test Y) and
real against real (two seeded halves of one test domain). Such scores compare only runs that share
the feature network, so every result carries the classifiers' names and the SHA-256 of their
weights. The weights are cached in `$LATENTLAB_CACHE` (evaluation/cached_classifier.py), keyed by
the dataset, the resolution, the recipe and the judge. Where the standard Inception weights are on
this machine, Inception FID and KID are added beside the classifier's (evaluation/inception_distances.py);
where not, one line of the protocol says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from latentlab.checks import Check
from latentlab.data.batcher import as_float
from latentlab.data.handoff import Data
from latentlab.evaluation.cached_classifier import PenultimateFeatures, Recipe, cached_classifier
from latentlab.evaluation.inception_distances import InceptionFeatures, Loader, feature_distances, inception_network
from latentlab.evaluation.trivial_translators import trivial_translators
from latentlab.objectives.cycle import l1_per_pixel

ARCHITECTURE = 1  # bump when DomainClassifier or the training loop (cached_classifier.py) changes: part of the cache key


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


LUMINANCE = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights of R, G and B


def luminance(x: Tensor) -> Tensor:
    """Y = 0.299 R + 0.587 G + 0.114 B of images (B, 3, H, W), (B, 1, H, W); the channel mean of other channel counts."""
    if x.shape[1] != 3:
        return x.mean(1, keepdim=True)
    w = torch.tensor(LUMINANCE, dtype=x.dtype, device=x.device)
    return torch.einsum("bchw,c->bhw", x, w)[:, None]


class GreyscaleDomainClassifier(nn.Module):
    """The colour-blind judge: x (B, C, H, W) -> its luminance (B, 1, H, W) -> a one-channel DomainClassifier.
    It reads the colour images as the colour judge does, so the two share every caller."""

    num_features = DomainClassifier.num_features

    def __init__(self):
        super().__init__()
        self.classifier = DomainClassifier(channels=1)

    def features(self, x: Tensor) -> Tensor:
        return self.classifier.features(luminance(x))  # (B, 128)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(luminance(x))  # (B, 2) logits


STANDARD = Recipe(epochs=10, batch_size=32)  # the one every result should use
QUICK = Recipe(epochs=2, batch_size=32)  # seconds; for tests and the quick budget only, not for comparing models
RECIPES = {"standard": STANDARD, "quick": QUICK}  # eval.classifier


def classifier_name(recipe: Recipe, data_name: str, size: int, n_train: int, greyscale: bool = False) -> str:
    """The cache key of the domain classifier (the colour-blind one where `greyscale`) trained by `recipe` on
    n_train images of `data_name` at size × size."""
    judge = "grey-domain" if greyscale else "domain"
    return f"{data_name}-{judge}-classifier-a{ARCHITECTURE}-{size}px-seed{recipe.seed}-e{recipe.epochs}-n{n_train}"


def mirrored_pixels(x: Tensor, g: torch.Generator) -> Tensor:
    """A training batch as the domain classifier sees it: pixels in [0, 1], half the images (drawn with g) mirrored."""
    x = as_float(x)
    flip = (torch.rand(len(x), generator=g) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


@torch.no_grad()
def domain_of(classifier: DomainClassifier, x: Tensor, chunk: int = 64) -> Tensor:
    """The most probable domain (0: X, 1: Y) of each image, (N,)."""
    return torch.cat([classifier(as_float(xb)).argmax(-1) for xb in x.split(chunk)])


def domain_classifier(data: Data, recipe: Recipe = STANDARD, cache_dir: Path | None = None,
                      greyscale: bool = False) -> tuple[DomainClassifier | GreyscaleDomainClassifier, dict]:
    """The classifier of `recipe` for two-domain `data`, on its images as the model sees them (size × size,
    centre-cropped to data.crop), trained once, then cached; with `greyscale`, the colour-blind one
    (GreyscaleDomainClassifier), by the same recipe and under a cache name of its own.

    It is trained on both training domains with domain labels y in {0, 1} (mirrored_pixels). The record:
    name, recipe, test accuracy, sha256 of the weights file, its path, training seconds, and whether this
    call found it in the cache.
    """
    data.domains("train")  # a one-line error unless the labels are 0 (X) and 1 (Y)
    train_x, test_x, size = data.centred(data.train_x), data.test_x, data.x_shape[-1]

    def accuracy(net: DomainClassifier) -> float:
        return 100.0 * float((domain_of(net, test_x) == data.test_y.to(test_x.device)).double().mean())

    build = GreyscaleDomainClassifier if greyscale else partial(DomainClassifier, train_x.shape[1])
    return cached_classifier(classifier_name(recipe, data.name, size, len(train_x), greyscale), build,
                             train_x, data.train_y, recipe, accuracy=accuracy, augment=mirrored_pixels,
                             cache_dir=cache_dir)


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


@dataclass
class Judges:
    """Who scores a translation: the colour judge (success, FID, KID), the colour-blind one (success) and,
    where its weights are on this machine, Inception (FID, KID)."""

    colour: DomainClassifier
    grey: GreyscaleDomainClassifier
    inception: InceptionFeatures | None = None

    def share(self, images: Tensor, domain: int) -> dict:
        """The % of images each judge assigns to `domain` (0: X, 1: Y): {"success", "success_grey"}."""
        share = lambda judge: 100.0 * float((domain_of(judge, images) == domain).double().mean())  # noqa: E731
        return {"success": share(self.colour), "success_grey": share(self.grey)}

    def distances(self, x: Tensor, reference: Tensor, seed: int) -> dict:
        """FID and KID of x against `reference` on the colour judge's features, and on Inception's where it is here."""
        out = distances(self.colour, x, reference, seed=seed)
        if self.inception is not None:
            out.update(feature_distances(self.inception(x), self.inception(reference), seed=seed))
        return out


def translation_quality(model, judges: Judges, x: Tensor, y: Tensor, seed: int = 0) -> dict:
    """The two directions of the translation protocol for a translator `model` (model.translate) on test images
    x (domain X) and y (domain Y): {"X_to_Y", "Y_to_X"}."""
    G_x, F_y = translate_all(model, x=x), translate_all(model, x_b=y)  # (N_X, C, H, W), (N_Y, C, H, W)
    F_G_x, G_F_y = translate_all(model, x_b=G_x), translate_all(model, x=F_y)
    G_y, F_x = translate_all(model, x=y), translate_all(model, x_b=x)
    fwd, bwd = judges.share(G_x, 1), judges.share(F_y, 0)
    return {
        "X_to_Y": {"success": fwd["success"], "success_grey": fwd["success_grey"], **judges.distances(G_x, y, seed),
                   "cycle_l1": float(l1_per_pixel(F_G_x, x)), "identity_l1": float(l1_per_pixel(G_y, y))},
        "Y_to_X": {"success": bwd["success"], "success_grey": bwd["success_grey"], **judges.distances(F_y, x, seed),
                   "cycle_l1": float(l1_per_pixel(G_F_y, y)), "identity_l1": float(l1_per_pixel(F_x, x))},
    }


def references(judges: Judges, x: Tensor, y: Tensor, seed: int = 0) -> dict:
    """The protocol's references: the untranslated images (test X against test Y, with the share of each that
    each judge assigns to the other domain) and real against real (two seeded halves of each test domain)."""
    x_as_y, y_as_x = judges.share(x, 1), judges.share(y, 0)
    x1, x2 = halves(x, seed)
    y1, y2 = halves(y, seed + 1)
    return {
        "untranslated": {"X_as_Y": x_as_y["success"], "Y_as_X": y_as_x["success"],
                         "X_as_Y_grey": x_as_y["success_grey"], "Y_as_X_grey": y_as_x["success_grey"],
                         **judges.distances(x, y, seed)},
        "real_X": judges.distances(x1, x2, seed),
        "real_Y": judges.distances(y1, y2, seed),
    }


def translator_checks(fwd: dict, bwd: dict, raw: dict) -> list[Check]:
    """The checks of one translator's two directions against the untranslated FID: the four the trained
    translator must pass, then the colour-blind judge's success, reported."""
    return [
        Check("translation success ≥ 80 %: G(x) classified as Y", fwd["success"] >= 80.0, fwd["success"]),
        Check("translation success ≥ 80 %: F(y) classified as X", bwd["success"] >= 80.0, bwd["success"]),
        Check("FID(G(x), Y) ≤ ½ FID(X, Y) untranslated", fwd["fid"] <= 0.5 * raw["fid"], fwd["fid"]),
        Check("FID(F(y), X) ≤ ½ FID(Y, X) untranslated", bwd["fid"] <= 0.5 * raw["fid"], bwd["fid"]),
        Check("colour-blind success ≥ 80 %: G(x) classified as Y in greyscale", fwd["success_grey"] >= 80.0,
              fwd["success_grey"]),
        Check("colour-blind success ≥ 80 %: F(y) classified as X in greyscale", bwd["success_grey"] >= 80.0,
              bwd["success_grey"]),
    ]


REQUIRED = 4  # the first checks of translator_checks that the trained translator must pass


TRANSLATORS = {"trained": "the model's G and F", "identity": "the identity, G(x) = x and F(y) = y",
               "colour_transfer": ("each RGB channel's mean and sd moved to the other domain's, fitted on the "
                                   "training domains (no shape or texture)")}


def section_titles(n_x: int, n_y: int) -> dict[str, str]:
    """The protocol's sections: the trained translator's, the references, then each trivial translator's."""
    titles = {"X_to_Y": f"G: X -> Y, {n_x} test images of X (FID, KID against test Y)",
              "Y_to_X": f"F: Y -> X, {n_y} test images of Y (FID, KID against test X)",
              "untranslated": "untranslated: test X against test Y (the reference to beat)",
              "real_X": "real against real: two halves of test X (the floor)",
              "real_Y": "real against real: two halves of test Y (the floor)"}
    for name in ("identity", "colour_transfer"):
        titles[f"{name}_X_to_Y"] = f"{name.replace('_', ' ')}: X -> Y (a trivial translator)"
        titles[f"{name}_Y_to_X"] = f"{name.replace('_', ' ')}: Y -> X (a trivial translator)"
    return titles


def translation_protocol(model, data, config, recipe: Recipe | None = None, cache_dir: Path | None = None,
                         inception: Loader = inception_network) -> dict:
    """eval.protocol = "translation": translation_quality of the model and of the trivial translators on the
    test domains, beside the references. The classifiers' recipe is eval.classifier's unless `recipe` is given;
    eval.n_test > 0 scores the first n test images of each domain; `inception` gives the Inception network (or
    None) and its line."""
    x, y = data.domains("test")
    if config.eval.n_test:
        x, y = x[: config.eval.n_test], y[: config.eval.n_test]
    x, y = x.contiguous(), y.contiguous()  # the centre-cropped test images as one dense layout: one rounding
    recipe = recipe or RECIPES[config.eval.classifier]
    colour, record = domain_classifier(data, recipe, cache_dir)
    grey, grey_record = domain_classifier(data, recipe, cache_dir, greyscale=True)
    network, inception_line = inception()
    judges = Judges(colour, grey, InceptionFeatures(network) if network is not None else None)
    seed = config.train.seed
    sections = {**translation_quality(model, judges, x, y, seed), **references(judges, x, y, seed)}
    for name, translator in trivial_translators(data).items():
        sections.update({f"{name}_{k}": v for k, v in translation_quality(translator, judges, x, y, seed).items()})
    checks = {name: translator_checks(sections[f"{p}X_to_Y"], sections[f"{p}Y_to_X"], sections["untranslated"])
              for name, p in (("trained", ""), ("identity", "identity_"), ("colour_transfer", "colour_transfer_"))}
    keep = ("name", "sha256", "test_accuracy", "recipe")
    protocol = {"name": "translation", "seed": seed, "resolution": x.shape[-1],
                "features": ("the penultimate features of a domain classifier trained here, not Inception: "
                             "no pretrained weights can be downloaded, and the scores compare only runs that "
                             "share this classifier (its name and SHA-256 below)"),
                "pixels": "L1 errors are means over pixels in [0, 1]",
                "classifier": {k: record[k] for k in keep},
                "greyscale_classifier": {k: grey_record[k] for k in keep},
                "inception": inception_line,
                "translators": TRANSLATORS}
    return {"protocol": protocol, "sections": sections, "section_titles": section_titles(len(x), len(y)),
            "reference": None, "checks": checks["trained"][:REQUIRED],
            "translator_checks": {name: [c.as_dict() for c in cs] for name, cs in checks.items()}}
