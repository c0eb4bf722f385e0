"""Classifier-based sample quality: FID and IS against their formulas, the cached, hashed classifier."""

import hashlib
from dataclasses import replace

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from latentlab.data.datasets import ImageData, load_images
from latentlab.evaluation import classifier_metrics as cm


class FakeClassifier(nn.Module):
    """features = the first 6 pixels, logits = a fixed scale times a one-hot of the image's label pixel."""

    num_features = 6

    def __init__(self, confidence: float = 30.0):
        super().__init__()
        self.confidence = confidence

    def features(self, x):
        return x.flatten(1)[:, :6]

    def forward(self, x):
        label = (x.flatten(1)[:, -1] * 10).long().clamp(0, 9)
        return self.confidence * nn.functional.one_hot(label, 10).float()


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
