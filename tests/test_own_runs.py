"""Training on the user's own data end to end: arrays from Python (kept by the run), .npz files and
image folders from the CLI, resume, networks and likelihoods that fit, and every bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import latentlab.api as api
from latentlab.cli import main
from latentlab.models.observation import Observation
from latentlab.nn import ConvDecoder, ConvEncoder, conv_stages
from latentlab.probability import log_normal

QUICK = ["train.iterations=6", "train.batch_size=8", "train.log_every=2", "train.checkpoint_every=3",
         "eval.protocol=test", "eval.iwae_k=[1,4]", "eval.iwae_repeats=[1,1]", "data.binarize=none"]
GAUSSIAN = ["model.likelihood=gaussian", "model.z_dim=2"]


def table(n: int = 60, d: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(np.arange(d) * 3.0, 1.0 + np.arange(d), (n, d))


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder):
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


# --- Python API: arrays in memory ---------------------------------------------------------------


def test_train_on_an_array_keeps_a_copy_and_everything_works_later(tmp_path, capsys, one_thread):
    x, y = table(), np.random.default_rng(1).integers(0, 3, 60)
    run = api.train("cs236_vae", data=(torch.from_numpy(x), y), out=tmp_path / "run", quiet=True,
                    overrides=[*QUICK, *GAUSSIAN, "model.learn_x_var=true"])
    kept = load_file(run / "data.safetensors")
    assert torch.equal(kept["x"], torch.from_numpy(x)) and kept["y"].tolist() == y.tolist()
    meta = json.loads((run / "run.json").read_text())
    assert meta["x_shape"] == [5] and len(meta["standardize"]["mean"]) == 5
    np.testing.assert_allclose(meta["standardize"]["std"][-1], x[:, -1].std(), rtol=0.3)  # a train split's std
    assert {p.name for p in (run / "figures").glob("*.png")} >= {"features.png", "pairs.png"}
    before = json.loads((run / "results.json").read_text())["sections"]
    code, out, _ = cli(capsys, "eval", run, "--quiet")  # from the CLI, with no data path anywhere
    assert code == 0 and json.loads((run / "results.json").read_text())["sections"] == before
    assert "bpd_nelbo" not in before["full_test"]  # a table: nats per example only
    csv = api.sample(run, n=7)
    lines = csv.read_text().splitlines()
    assert csv.suffix == ".csv" and len(lines) == 8 and len(lines[1].split(",")) == 5


def test_resume_on_array_data_equals_an_uninterrupted_run(tmp_path, one_thread):
    images = np.random.default_rng(0).random((40, 6, 6)).astype(np.float32)
    common = [*QUICK, *GAUSSIAN, "model.net=conv"]
    full = api.train("cs236_vae", data=images, out=tmp_path / "full", quiet=True, evaluate_after=False,
                     overrides=common)
    part = api.train("cs236_vae", data=images, out=tmp_path / "part", quiet=True, evaluate_after=False,
                     overrides=[*common, "train.iterations=3"])
    api.train(None, resume=part, overrides=["train.iterations=6"], quiet=True, evaluate_after=False)
    a = load_file(full / "checkpoints" / "step-00000006.safetensors")
    b = load_file(part / "checkpoints" / "step-00000006.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit-identical on CPU


def test_image_arrays_report_bits_per_dimension(tmp_path, one_thread):
    images = (np.random.default_rng(0).random((40, 3, 8, 8)) * 255).astype(np.uint8)
    run = api.train("cs236_vae", data=images, out=tmp_path / "run", quiet=True,
                    overrides=[*QUICK, *GAUSSIAN, "model.net=conv"])
    results = json.loads((run / "results.json").read_text())
    section = results["sections"]["full_test"]
    d = 3 * 8 * 8  # bits per dimension = nats / (D ln 2) + 8 for a Gaussian on [0, 1] pixels
    assert section["bpd_nelbo"] == pytest.approx(section["nelbo"] / (d * math.log(2)) + 8)
    assert section["bpd_iwae_4"] == pytest.approx(section["-iwae_4"] / (d * math.log(2)) + 8)
    assert "8-bit" in results["protocol"]["bits_per_dim"]
    assert results["reference"] is None and all("within" not in c["name"] for c in results["checks"])  # no MNIST numbers
    assert "not compared" in results["protocol"]["reference"]


# --- CLI: files ------------------------------------------------------------------------------------


def test_cli_trains_on_an_npz_and_an_image_folder_without_touching_them(tmp_path, capsys, one_thread):
    np.savez(tmp_path / "digits.npz", x=np.random.default_rng(0).integers(0, 17, (30, 8, 8)) * 15,
             y=np.arange(30) % 3)
    photos = tmp_path / "photos"
    for c in ("a", "b"):
        for i in range(6):
            (photos / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.random.default_rng(i).integers(0, 256, (10, 14, 3), dtype=np.uint8)).save(
                photos / c / f"{i}.jpg")
    before = snapshot(tmp_path)
    sets = [a for s in [*QUICK, *GAUSSIAN, "model.net=conv", "train.batch_size=4"] for a in ("--set", s)]
    code, out, err = cli(capsys, "train", "cs236_vae", "--out", tmp_path / "runs" / "npz", *sets,
                         "--set", "data.name=array", "--set", f"data.path={tmp_path / 'digits.npz'}", "--quiet")
    assert code == 0, err
    code, out, err = cli(capsys, "train", "cs236_cvae_mnist", "--out", tmp_path / "runs" / "folder", *sets,
                         "--set", "data.name=folder", "--set", f"data.path={photos}", "--set", "data.image_size=[10,10]",
                         "--set", "data.crop=8", "--set", "data.flip=true", "--quiet")
    assert code == 0, err
    meta = json.loads((tmp_path / "runs" / "folder" / "run.json").read_text())
    assert meta["x_shape"] == [3, 8, 8] and meta["classes"] == ["a", "b"]
    assert {p: v for p, v in snapshot(tmp_path).items() if "runs" not in p.parts} == before


# --- networks and likelihoods ------------------------------------------------------------------------


@pytest.mark.parametrize("shape, stages", [((1, 28, 28), 2), ((3, 64, 64), 3), ((3, 30, 22), 2), ((1, 8, 8), 2),
                                           ((3, 256, 256), 5)])
def test_conv_nets_take_any_channels_and_size(shape, stages):
    assert conv_stages(*shape[1:]) == stages
    enc, dec = ConvEncoder(shape, 4), ConvDecoder(shape, 4)
    mean, var = enc(torch.rand(2, *shape))
    assert mean.shape == var.shape == (2, 4) and (var > 0).all()
    assert dec(mean).shape == (2, math.prod(shape))


def test_learned_variance_is_the_gaussian_log_density_and_trains():
    obs = Observation("gaussian", 0.1, x_dim=3, learn_var=True)
    x, mean = torch.randn(4, 3), torch.randn(4, 3)
    with torch.no_grad():
        obs.x_logvar.copy_(torch.tensor([0.0, -1.0, 2.0]))
    torch.testing.assert_close(obs.log_prob(x, mean), log_normal(x, mean, torch.tensor([0.0, -1.0, 2.0]).exp()))
    obs.log_prob(x, mean).sum().backward()
    assert obs.x_logvar.grad is not None and obs.x_logvar.grad.abs().sum() > 0


# --- bad input: one line, exit 2, naming the file ----------------------------------------------------


def _folder(tmp_path, images: dict[str, np.ndarray]):
    folder = tmp_path / "imgs"
    for name, pixels in images.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / name)
    return folder


def _bad_inputs(tmp_path):
    """(name, data.name, path, extra --set, the file named in the error)."""
    px = lambda h=8, w=8, seed=0: np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    cases = []
    folder = _folder(tmp_path / "unreadable", {"a.png": px(), "b.png": px()})
    (folder / "b.png").write_bytes(b"not an image at all")
    cases.append(("unreadable", "folder", folder, [], folder / "b.png"))
    folder = _folder(tmp_path / "truncated", {"a.jpg": px(64, 64), "b.jpg": px(64, 64, 1)})
    (folder / "b.jpg").write_bytes((folder / "b.jpg").read_bytes()[:300])
    cases.append(("truncated", "folder", folder, [], folder / "b.jpg"))
    (tmp_path / "empty").mkdir()
    cases.append(("empty folder", "folder", tmp_path / "empty", [], tmp_path / "empty"))
    folder = _folder(tmp_path / "sizes", {"a.png": px(8, 8), "b.png": px(8, 12)})
    cases.append(("sizes differ", "folder", folder, [], folder / "b.png"))
    folder = _folder(tmp_path / "one_class", {"only/a.png": px(), "only/b.png": px(seed=1)})
    cases.append(("one class", "folder", folder, ["model.name=cvae"], folder))
    nan = table()
    nan[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    cases.append(("NaN", "array", tmp_path / "nan.npy", [], tmp_path / "nan.npy"))
    np.save(tmp_path / "rank.npy", np.zeros(10))
    cases.append(("rank", "array", tmp_path / "rank.npy", [], tmp_path / "rank.npy"))
    np.save(tmp_path / "dtype.npy", np.array([["a", "b"]] * 10))
    cases.append(("dtype", "array", tmp_path / "dtype.npy", [], tmp_path / "dtype.npy"))
    np.savez(tmp_path / "len.npz", x=table(), y=np.zeros(59, int))
    cases.append(("len(y)", "array", tmp_path / "len.npz", [], tmp_path / "len.npz"))
    cases.append(("no such path", "array", tmp_path / "missing.npz", [], tmp_path / "missing.npz"))
    cases.append(("no such folder", "folder", tmp_path / "missing", [], tmp_path / "missing"))
    return cases


def test_each_bad_input_exits_2_with_one_line_naming_the_file(tmp_path, capsys):
    inputs = tmp_path / "inputs"
    cases = _bad_inputs(inputs)
    before = snapshot(inputs)
    for name, source, path, extra, named in cases:
        sets = [a for s in [*QUICK, *GAUSSIAN, f"data.name={source}", f"data.path={path}", *extra] for a in ("--set", s)]
        code, out, err = cli(capsys, "train", "cs236_vae", "--out", tmp_path / "runs" / name.replace(" ", "_"),
                             *sets, "--quiet")
        assert code == 2, (name, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (name, err)
        assert str(named) in err, (name, err)
    assert snapshot(inputs) == before  # nothing written into the user's files
