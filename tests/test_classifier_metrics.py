"""Classifier-based sample quality: FID, IS, precision and recall against their formulas, the cached, hashed
classifiers of MNIST and Fashion-MNIST, and the protocols that score image samples with them."""

import hashlib
from dataclasses import replace

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from latentlab.data.datasets import ImageData, load_images
from latentlab.evaluation import classifier_metrics as cm
from latentlab.evaluation.cached_classifier import PenultimateFeatures
from latentlab.evaluation.precision_recall import precision_recall


class FakeClassifier(nn.Module):
    """features = the first 6 pixels and the label pixel, logits = a fixed scale times a one-hot of the label pixel."""

    num_features = 7

    def __init__(self, confidence: float = 30.0):
        super().__init__()
        self.confidence = confidence

    def features(self, x):
        return x.flatten(1)[:, [0, 1, 2, 3, 4, 5, -1]]

    def head(self, features):
        label = (features[:, -1] * 10).long().clamp(0, 9)
        return self.confidence * nn.functional.one_hot(label, 10).float()

    def forward(self, x):
        return self.head(self.features(x))


def images(n: int, seed: int, shift: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 1, 28, 28, generator=g) * 0.5 + shift).clamp(0, 1)
    y = torch.arange(n) % 10
    x.view(n, -1)[:, -1] = (y + 0.5) / 10  # the label pixel
    return x, y


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """‖μ_a - μ_b‖² + Tr(Σ_a + Σ_b - 2(Σ_a Σ_b)^½), with scipy's matrix square root."""
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(ca @ cb).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * root))


def test_fid_is_the_frechet_distance_of_the_features():
    clf = FakeClassifier()
    x, _ = images(600, 0, shift=0.2)
    ref, ref_y = images(500, 1)
    q = cm.sample_quality(clf, x, ref, ref_y, chunk=128)
    expected = frechet(clf.features(x).double().numpy(), clf.features(ref).double().numpy())
    assert q["fid"] == pytest.approx(expected, rel=1e-3)
    assert cm.sample_quality(clf, ref, ref, ref_y)["fid"] == pytest.approx(0.0, abs=1e-3)


def test_inception_score_and_class_frequencies():
    clf = FakeClassifier(confidence=50.0)  # p(y|x) one-hot: IS = exp(H(p(y))) = number of classes used
    x, y = images(1000, 0)
    q = cm.sample_quality(clf, x, x, y, splits=1)
    assert q["is"] == pytest.approx(10.0, rel=1e-4)  # 10 equally used classes
    assert cm.sample_quality(clf, x, x, y)["is"] < 10.0  # 10 splits of 100: the classes are not equal in each
    assert q["class_freq"] == [0.1] * 10 and q["class_tv"] == pytest.approx(0.0, abs=1e-9)
    x.view(1000, -1)[:, -1] = 0.35  # every sample classified as a 3: IS = 1, TV = 0.9
    q = cm.sample_quality(clf, x, x, y, splits=1)
    assert q["is"] == pytest.approx(1.0, rel=1e-4)
    assert q["class_tv"] == pytest.approx(0.9) and q["min_class_freq"] == 0.0


@pytest.mark.filterwarnings("ignore:Metric `InceptionScore` will save all extracted features")
def test_fid_and_is_equal_torchmetrics_reading_the_network_itself():
    """sample_quality runs the network once and hands its features to FID, IS, precision and recall: the
    numbers are bit for bit those of torchmetrics running the network on the images (as it did before)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore

    clf = cm.MNISTClassifier().eval()  # untrained: any weights give features and logits
    x, _ = images(300, 0, shift=0.2)
    ref, ref_y = images(250, 1)
    q = cm.sample_quality(clf, x, ref, ref_y, chunk=64, seed=3)
    fid = FrechetInceptionDistance(feature=PenultimateFeatures(clf), normalize=True)
    inception = InceptionScore(feature=clf, splits=10)
    with torch.no_grad():
        for xb in x.split(64):
            fid.update(xb, real=False)
            inception.update(xb)
        for xb in ref.split(64):
            fid.update(xb, real=True)
        torch.manual_seed(3)
        is_mean, is_sd = inception.compute()
        features = clf.features(x), clf.features(ref)
    assert (q["fid"], q["is"], q["is_sd"]) == (float(fid.compute()), float(is_mean), float(is_sd))
    assert (q["precision"], q["recall"]) == precision_recall(features[1], features[0], k=3)


def test_precision_and_recall_tell_collapse_from_coverage():
    clf = FakeClassifier()
    ref, ref_y = images(400, 1)
    q = cm.sample_quality(clf, ref, ref, ref_y)
    assert (q["precision"], q["recall"]) == (1.0, 1.0)  # the test set against itself
    collapsed = ref[5:6].expand(400, -1, -1, -1)  # one real image, 400 times: sharp but collapsed
    q = cm.sample_quality(clf, collapsed, ref, ref_y)
    assert q["precision"] == 1.0 and q["recall"] <= 1 / 400
    far, _ = images(400, 2, shift=0.5)  # every pixel +0.5: off the real manifold
    q = cm.sample_quality(clf, far, ref, ref_y)
    assert q["precision"] < 0.05 and q["recall"] < 0.05


def test_classifier_is_cached_hashed_and_reproducible(data_root, tmp_path):
    data = load_images("mnist", data_root)
    data = ImageData(data.train_x[:1024], data.train_y[:1024], data.test_x[:500], data.test_y[:500], "mnist")
    recipe = replace(cm.QUICK, n_train=1024, batch_size=256)
    net, record = cm.feature_classifier(data, recipe, tmp_path / "a")
    weights = tmp_path / "a" / f"{cm.classifier_name(recipe)}.safetensors"
    assert not record["cached"] and record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert 10.0 < record["test_accuracy"] <= 100.0
    again, cached = cm.feature_classifier(data, recipe, tmp_path / "a")
    assert cached["cached"] and cached["sha256"] == record["sha256"]
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    _, fresh = cm.feature_classifier(data, recipe, tmp_path / "b")  # the same seed trains the same weights
    assert fresh["sha256"] == record["sha256"]
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")  # a corrupted cache is refused, not used
    with pytest.raises(cm.UserError, match="SHA-256"):
        cm.feature_classifier(data, recipe, tmp_path / "a")
    record_path = weights.with_suffix(".json")
    record_path.write_text(record_path.read_text()[:40])  # a record cut short is one line naming it
    with pytest.raises(cm.UserError, match=rf"^{record_path} is corrupt \(not JSON, truncated or damaged: "):
        cm.feature_classifier(data, recipe, tmp_path / "a")


def test_classifier_refuses_other_data():
    data = ImageData(torch.rand(4, 1, 28, 20), None, torch.rand(2, 1, 28, 20), None, "frey_faces")
    with pytest.raises(cm.UserError, match="MNIST"):
        cm.feature_classifier(data, cm.QUICK)
    svhn = ImageData(torch.rand(4, 3, 32, 32), torch.arange(4), torch.rand(2, 3, 32, 32), torch.arange(2), "svhn")
    with pytest.raises(cm.UserError, match=r"^the feature classifiers are trained on MNIST and Fashion-MNIST .* \"svhn\""):
        cm.feature_classifier(svhn)


def test_each_dataset_has_its_own_classifier_name():
    assert cm.classifier_name(cm.STANDARD) == "mnist-classifier-a1-seed0-e3-n60000"  # the cached one every
    # MNIST result names: a change would orphan them
    assert cm.classifier_name(cm.FASHION_STANDARD, "fashion_mnist") == "fashion-classifier-a1-seed0-e5-n60000"
    assert cm.classifier_name(cm.QUICK, "fashion_mnist") == "fashion-classifier-a1-seed0-e1-n5000"
    assert {d.protocol for d in cm.DATASETS.values()} == {"samples_mnist", "samples_fashion"}


def test_fashion_classifier_is_its_own(data_root, tmp_path):
    """The quick recipe on 2,048 Fashion-MNIST images: a cache entry of its own, weights unlike MNIST's."""
    if not (data_root / "fashion_mnist").is_dir():
        pytest.skip("Fashion-MNIST is not under the data root")
    small = {}
    for name in ("mnist", "fashion_mnist"):
        d = load_images(name, data_root)
        small[name] = ImageData(d.train_x[:2048], d.train_y[:2048], d.test_x[:1000], d.test_y[:1000], name)
    recipe = replace(cm.QUICK, n_train=2048, batch_size=256)
    _, fashion = cm.feature_classifier(small["fashion_mnist"], recipe, tmp_path)
    _, mnist = cm.feature_classifier(small["mnist"], recipe, tmp_path)
    assert fashion["name"] == "fashion-classifier-a1-seed0-e1-n2048" and not fashion["cached"]
    assert fashion["sha256"] != mnist["sha256"]
    assert 10.0 < fashion["test_accuracy"] <= 100.0  # 8 steps: above chance, far from the standard recipe's 92 %


def test_the_ddpm_fashion_preset_is_scored_by_samples_fashion(data_root, tmp_path, one_thread):
    """The preset end to end at a toy size: its protocol scores Fashion samples on the Fashion classifier."""
    from latentlab import api

    if not (data_root / "fashion_mnist").is_dir():
        pytest.skip("Fashion-MNIST is not under the data root")
    run = api.train("ddpm_fashion", out=tmp_path / "run", data_dir=data_root, quiet=True, overrides=[
        "train.iterations=2", "model.ddim_steps=2", 'eval.classifier="quick"', "eval.n_test=100", "eval.figures=false"])
    results = run.results
    protocol, sections = results["protocol"], results["sections"]
    assert protocol["name"] == "samples_fashion" and protocol["n_samples"] == 100
    assert protocol["classifier"]["name"] == "fashion-classifier-a1-seed0-e1-n5000"
    assert protocol["reference_set"] == "the first 100 images of the Fashion-MNIST test set"
    assert set(sections) == {"samples", "floor"}
    for q in sections.values():
        assert set(q) == {"fid", "is", "is_sd", "precision", "recall", "class_tv", "min_class_freq"}
        assert 0.0 <= q["precision"] <= 1.0 and 0.0 <= q["recall"] <= 1.0
    assert sections["floor"]["fid"] < sections["samples"]["fid"]  # 2 training steps: noise, far from real clothes
    assert sections["floor"]["recall"] > sections["samples"]["recall"]
    [check] = results["checks"]
    assert check["name"].startswith("feature classifier test accuracy ≥ 91 % (fashion-classifier-")
