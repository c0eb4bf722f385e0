"""The translation protocol's classifier and metrics on synthetic two-domain data: X reddish noise, Y bluish."""

import dataclasses
import json

import pytest
import torch

from latentlab.registry import build_config as build
from latentlab.data.datasets import ImageData
from latentlab.data.handoff import Data
from latentlab.evaluation.cached_classifier import Recipe
from latentlab.evaluation.protocols import evaluate, recorded
from latentlab.evaluation.translation_metrics import distances, domain_classifier, domain_of, translation_protocol

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = build({"model": {"name": "cyclegan"}, "eval": {"protocol": "translation"}})
QUICK = Recipe(epochs=10, batch_size=16)  # 80 steps on 128 images: enough for batch norm's running statistics


def tinted(n, red, seed, size=16):
    """n noise images whose red channel is brighter (red) or whose blue channel is (not red), (n, 3, size, size)."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.rand(n, 3, size, size, generator=g) + 0.2
    x[:, 0 if red else 2] += 0.35 + 0.1 * torch.rand(n, 1, 1, generator=g)  # the tint, varying per image
    return x.clamp(0, 1)


def two_domains(n_train=64, n_test=30, size=16):
    def part(n, seed):
        x = torch.cat([tinted(n, True, seed, size), tinted(n, False, seed + 1, size)])
        return x, torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    return Data.of(ImageData(*part(n_train, 0), *part(n_test, 10), name="tinted"), CONFIG)


class Identity:
    """A translator that changes nothing: G(x) = x and F(y) = y."""

    def translate(self, x=None, x_b=None):
        return x if x is not None else x_b


class Swap:
    """A perfect translator for the tinted data: G and F swap the red and blue channels."""

    def translate(self, x=None, x_b=None):
        return (x if x is not None else x_b)[:, [2, 1, 0]]


@pytest.fixture(scope="module")
def data():
    return two_domains()


def test_the_classifier_separates_the_domains_and_is_cached(data, tmp_path):
    net, record = domain_classifier(data, QUICK, tmp_path)
    assert record["test_accuracy"] >= 95.0 and not record["cached"]  # the tint is obvious: chance would be 50
    again, record2 = domain_classifier(data, QUICK, tmp_path)
    assert record2["cached"] and record2["sha256"] == record["sha256"]
    assert torch.equal(domain_of(net, data.test_x), domain_of(again, data.test_x))
    as_bytes = dataclasses.replace(data, train_x=(data.train_x * 255).round().to(torch.uint8))
    _, record3 = domain_classifier(as_bytes, QUICK, tmp_path / "uint8")  # folders' training images stay uint8
    assert record3["test_accuracy"] >= 95.0


def test_identity_translator_succeeds_as_often_as_the_classifier_errs(data, tmp_path):
    result = translation_protocol(Identity(), data, CONFIG, QUICK, tmp_path)
    s = result["sections"]
    # success of G = x means x classified as Y: exactly the classifier's error on untranslated X
    assert s["X_to_Y"]["success"] == s["untranslated"]["X_as_Y"]
    assert s["Y_to_X"]["success"] == s["untranslated"]["Y_as_X"]
    for direction in ("X_to_Y", "Y_to_X"):  # identity generators: no cycle or identity error
        assert s[direction]["cycle_l1"] == 0.0 and s[direction]["identity_l1"] == 0.0
    # G(X) = X, so its distance to Y is the untranslated one, and the FID check fails
    assert s["X_to_Y"]["fid"] == pytest.approx(s["untranslated"]["fid"], rel=1e-6)
    assert not any(c.passed for c in result["checks"])
    json.dumps(recorded(result))  # results.json must be able to hold it


def test_a_swapping_translator_passes_the_checks(data, tmp_path):
    result = translation_protocol(Swap(), data, CONFIG, QUICK, tmp_path)
    s = result["sections"]
    assert s["X_to_Y"]["success"] >= 95.0 and s["Y_to_X"]["success"] >= 95.0
    assert s["X_to_Y"]["cycle_l1"] == 0.0  # swapping twice is the identity
    assert all(c.passed for c in result["checks"]), result["checks"]
    assert s["real_X"]["fid"] < s["untranslated"]["fid"]  # real against real sits far below X against Y


def test_fid_and_kid_of_a_set_against_itself_vanish(data, tmp_path):
    net, _ = domain_classifier(data, QUICK, tmp_path)
    x = data.test_x[data.test_y == 0]
    d = distances(net, x, x)
    apart = distances(net, x, data.test_x[data.test_y == 1])
    assert abs(d["fid"]) < 1e-3 and apart["fid"] > 1.0
    # KID's cross term keeps the pairs (x_i, x_i) that its within-set terms leave out: against itself
    # it is a small negative number of order 1/n, not 0, and far below the two domains' KID
    assert abs(d["kid"]) < 0.01 * apart["kid"], (d, apart)


def test_the_protocol_is_an_eval_protocol(data, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path))
    result = evaluate(Identity(), data, CONFIG)
    assert result["protocol"]["name"] == "translation" and "not Inception" in result["protocol"]["features"]
    assert len(result["protocol"]["classifier"]["sha256"]) == 64
