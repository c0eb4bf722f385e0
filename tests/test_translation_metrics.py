"""The translation protocol's classifiers and metrics on synthetic two-domain data: X reddish noise, Y bluish;
for the colour-blind judge, domains that differ only in colour, or in colour and stripes' direction."""

import dataclasses
import json

import pytest
import torch

from latentlab.registry import build_config as build
from latentlab.data.datasets import ImageData
from latentlab.data.handoff import Data
from latentlab.evaluation.cached_classifier import Recipe
from latentlab.evaluation.protocols import evaluate, recorded
from latentlab.evaluation import inception_distances
from latentlab.evaluation.inception_distances import InceptionFeatures, feature_distances, inception_network
from latentlab.evaluation.trivial_translators import ColourTransfer, channel_statistics
from latentlab.evaluation.translation_metrics import (distances, domain_classifier, domain_of, luminance,
                                                      translation_protocol)

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


# -- the trivial translators

def test_the_trivial_translators_are_scored_beside_the_model(data, tmp_path):
    result = translation_protocol(Swap(), data, CONFIG, QUICK, tmp_path)
    s = result["sections"]
    # the identity's success under either judge is exactly that judge's error on the untranslated images
    assert s["identity_X_to_Y"]["success"] == s["untranslated"]["X_as_Y"]
    assert s["identity_Y_to_X"]["success"] == s["untranslated"]["Y_as_X"]
    assert s["identity_X_to_Y"]["success_grey"] == s["untranslated"]["X_as_Y_grey"]
    assert s["identity_Y_to_X"]["success_grey"] == s["untranslated"]["Y_as_X_grey"]
    assert s["identity_X_to_Y"]["fid"] == pytest.approx(s["untranslated"]["fid"], rel=1e-6)
    checks = result["translator_checks"]
    assert set(checks) == {"trained", "identity", "colour_transfer"}
    assert [c["name"] for c in checks["identity"]] == [c["name"] for c in checks["trained"]]
    assert [c.as_dict() for c in result["checks"]] == checks["trained"][:4]  # the required ones, as before
    assert not any(c["passed"] for c in checks["identity"][:4])  # success is the judge's error; FID the untranslated
    # the tint is all that tells these domains apart: the colour transfer moves it and passes the colour judge
    assert s["colour_transfer_X_to_Y"]["success"] >= 90.0 and s["colour_transfer_Y_to_X"]["success"] >= 90.0
    json.dumps(recorded(result))


def uniform_channels(n, low, high, seed, size=8):
    """n images whose channel c is uniform on [low[c], high[c]], (n, 3, size, size)."""
    g = torch.Generator().manual_seed(seed)
    low, high = torch.tensor(low)[:, None, None], torch.tensor(high)[:, None, None]
    return low + (high - low) * torch.rand(n, 3, size, size, generator=g)


def test_the_colour_transfer_matches_the_target_domains_channel_statistics():
    x = uniform_channels(200, [0.1, 0.2, 0.3], [0.3, 0.3, 0.6], seed=0)
    y = uniform_channels(200, [0.5, 0.4, 0.1], [0.9, 0.5, 0.2], seed=1)
    labels = torch.cat([torch.zeros(200, dtype=torch.long), torch.ones(200, dtype=torch.long)])
    as_bytes = (torch.cat([x, y]) * 255).round().to(torch.uint8)  # folders' training images stay uint8
    data = Data.of(ImageData(as_bytes, labels, torch.cat([x, y])[:4], labels[:4], name="uniform"), CONFIG)
    transfer = ColourTransfer.fitted(data)
    for source, target, key in ((x, y, "x"), (y, x, "x_b")):
        moved = transfer.translate(**{key: source})
        mean, sd = channel_statistics(moved)
        target_mean, target_sd = channel_statistics(target)
        # the statistics were fitted on 8-bit pixels: they match to within a rounding of the training images
        assert torch.allclose(mean, target_mean, atol=2e-3) and torch.allclose(sd, target_sd, atol=2e-3), (mean, sd)
        assert not torch.allclose(channel_statistics(source)[0], target_mean, atol=0.05)  # they did move
    bright = transfer.translate(x=torch.ones(1, 3, 8, 8))  # far past X's range: clamped to valid pixels
    assert bright.max() <= 1.0 and bright.min() >= 0.0


# -- the colour-blind judge

NEUTRAL = torch.tensor([1.0, -0.299 / 0.587, 0.0])[:, None, None]  # a change of colour with no change of luminance


def stripes(n, horizontal, seed, size=16):
    """n grey stripe patterns (rows or columns of a sinusoid of random phase and period) plus noise, (n, 1, size, size)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(size, dtype=torch.float32)
    period = 3 + 3 * torch.rand(n, 1, generator=g)
    wave = 0.5 + 0.2 * torch.sin(2 * torch.pi * t / period + 6.3 * torch.rand(n, 1, generator=g))  # (n, size)
    x = wave[:, :, None].expand(n, size, size) if horizontal else wave[:, None, :].expand(n, size, size)
    return (x + 0.05 * torch.rand(n, size, size, generator=g))[:, None]


def coloured(grey, sign, seed):
    """Grey images (n, 1, H, W) tinted along NEUTRAL by sign · t, t ~ U[0.1, 0.15] per image: luminance kept."""
    t = 0.1 + 0.05 * torch.rand(len(grey), 1, 1, 1, generator=torch.Generator().manual_seed(seed))
    return grey + sign * t * NEUTRAL


def domains(x_of, y_of, n_train=64, n_test=30):
    """Two-domain Data whose X images come from x_of(n, seed) and Y images from y_of(n, seed)."""
    def part(n, seed):
        x = torch.cat([x_of(n, seed), y_of(n, seed + 1)])
        return x, torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    return Data.of(ImageData(*part(n_train, 0), *part(n_test, 10), name="striped"), CONFIG)


def test_luminance_ignores_a_change_of_colour_along_the_neutral_direction():
    x = torch.rand(4, 3, 8, 8)
    assert torch.allclose(luminance(x + 0.2 * NEUTRAL), luminance(x), atol=1e-6)
    assert not torch.allclose(luminance(x[:, [2, 1, 0]]), luminance(x), atol=1e-3)  # a channel swap is seen


def test_the_colour_blind_judge_cannot_tell_domains_that_differ_only_in_colour(tmp_path):
    grey = lambda n, seed: 0.3 + 0.4 * torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    data = domains(lambda n, s: coloured(grey(n, s), +1, s), lambda n, s: coloured(grey(n, s), -1, s))
    _, colour = domain_classifier(data, QUICK, tmp_path)
    _, blind = domain_classifier(data, QUICK, tmp_path, greyscale=True)
    assert colour["test_accuracy"] >= 95.0, colour
    assert blind["test_accuracy"] <= 70.0, blind  # chance is 50: the grey images of the two domains are alike
    assert blind["name"] != colour["name"] and blind["sha256"] != colour["sha256"]  # cached apart
    assert "grey" in blind["name"] and (tmp_path / f"{blind['name']}.safetensors").exists()


class Recolour:
    """Moves the tint of the striped data to the other domain's along NEUTRAL: no change of luminance or stripes."""

    def translate(self, x=None, x_b=None):
        return x - 0.25 * NEUTRAL if x is not None else x_b + 0.25 * NEUTRAL


class Transpose:
    """Turns horizontal stripes into vertical ones and back, the tint kept."""

    def translate(self, x=None, x_b=None):
        return (x if x is not None else x_b).transpose(-1, -2)


def test_the_colour_blind_judge_sees_the_stripes_and_not_the_tint(tmp_path):
    data = domains(lambda n, s: coloured(stripes(n, True, s), +1, s), lambda n, s: coloured(stripes(n, False, s), -1, s))
    _, blind = domain_classifier(data, QUICK, tmp_path, greyscale=True)
    assert blind["test_accuracy"] >= 95.0, blind  # the stripes tell the domains apart in greyscale
    recoloured = translation_protocol(Recolour(), data, CONFIG, QUICK, tmp_path)["sections"]
    for direction, untranslated in (("X_to_Y", "X_as_Y_grey"), ("Y_to_X", "Y_as_X_grey")):
        # a pure change of colour: the colour-blind judge's verdicts are those on the untranslated images
        assert recoloured[direction]["success_grey"] == recoloured["untranslated"][untranslated] <= 5.0
    transposed = translation_protocol(Transpose(), data, CONFIG, QUICK, tmp_path)["sections"]
    assert transposed["X_to_Y"]["success_grey"] >= 95.0 and transposed["Y_to_X"]["success_grey"] >= 95.0


# -- Inception FID and KID

class StandIn(torch.nn.Module):
    """A stand-in for Inception-v3: uint8 images -> the mean of each channel over a 4×4 grid, 48 features."""

    num_features = 48

    def forward(self, x):
        assert x.dtype == torch.uint8  # what torchmetrics' Inception is given
        return torch.nn.functional.adaptive_avg_pool2d(x.float() / 255, 4).flatten(1)


def test_inception_distances_sit_beside_the_classifiers_where_a_network_is_given(data, tmp_path):
    result = translation_protocol(Swap(), data, CONFIG, QUICK, tmp_path, inception=lambda: (StandIn(), "stand-in"))
    s = result["sections"]
    assert result["protocol"]["inception"] == "stand-in"
    for name, values in s.items():
        assert {"inception_fid", "inception_kid", "inception_kid_sd"} <= set(values), name
    # the identity's translations are the test images themselves: the untranslated distance, read from the same features
    assert s["identity_X_to_Y"]["inception_fid"] == pytest.approx(s["untranslated"]["inception_fid"], rel=1e-9)
    assert s["real_X"]["inception_fid"] < 0.5 * s["untranslated"]["inception_fid"]
    assert s["X_to_Y"]["inception_fid"] < 0.5 * s["untranslated"]["inception_fid"]  # swapping the tint closes the gap
    plain = translation_protocol(Swap(), data, CONFIG, QUICK, tmp_path, inception=lambda: (None, "none here"))
    assert plain["sections"]["X_to_Y"]["fid"] == s["X_to_Y"]["fid"]  # the classifier's numbers do not move
    assert "inception_fid" not in plain["sections"]["X_to_Y"] and plain["protocol"]["inception"] == "none here"


def test_inception_features_read_each_image_set_once_and_vanish_against_themselves():
    calls = []
    net = StandIn()
    net.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    features = InceptionFeatures(net, chunk=8)
    x = tinted(20, True, 0)
    f = features(x)
    assert features(x.clone()) is f and sum(calls) == 20  # an equal set is not read again
    d = feature_distances(f, f)
    assert abs(d["inception_fid"]) < 1e-6 and set(d) == {"inception_fid", "inception_kid", "inception_kid_sd"}


def test_without_the_inception_weights_one_line_says_so_and_nothing_fails(data, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # a torch hub without the weights
    network, line = inception_network()
    assert network is None and line.startswith("no Inception FID/KID") and str(tmp_path / "torch") in line
    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path))
    result = evaluate(Identity(), data, CONFIG)
    assert result["protocol"]["inception"] == line
    assert not any(k.startswith("inception") for values in result["sections"].values() for k in values)
    wrong = tmp_path / "torch" / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(b"not the weights")
    network, line = inception_network()
    assert network is None and "SHA-256" in line and str(wrong) in line  # a file of another hash is not used
    monkeypatch.setattr(inception_distances, "sha256", lambda path: inception_distances.HASH + "0" * 56)
    network, line = inception_network()  # the right hash, but no torch-fidelity or not Inception's weights inside
    assert network is None and line.startswith(f"no Inception FID/KID: {wrong}"), line
