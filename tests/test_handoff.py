"""The one hand-off of data/: the data as the model sees it, its kind, and what a run keeps and says of it."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest
import torch
from PIL import Image

import latentlab.api as api
from latentlab.data.datasets import ImageData
from latentlab.data.handoff import Data, prepare
from latentlab.errors import UserError
from latentlab.registry import build_config, load_config

QUICK = ["train.iterations=4", "train.batch_size=8", "train.log_every=2", "eval.protocol=test",
         "eval.iwae_k=[1]", "eval.iwae_repeats=[1]", "data.binarize=none"]


def folder_of_photos(root, n=12, size=(20, 24)):
    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def config(**data):
    return build_config({"model": {"name": "vae", "net": "conv"}, "data": {"binarize": "none", **data},
                         "eval": {"protocol": "test"}})


def test_a_folder_is_handed_over_cropped_and_float_and_says_what_it_is(tmp_path):
    photos = folder_of_photos(tmp_path / "photos")
    data = prepare(config(name="folder", path=str(photos), crop=16, flip=True), device="cpu")
    assert data.kind == "images" and data.own and data.x_shape == (3, 16, 16)
    assert data.train_x.dtype == torch.uint8 and data.train_x.shape[-2:] == (20, 24)  # cropped per batch
    assert data.test_x.dtype == torch.float32 and data.test_x.shape[1:] == (3, 16, 16)  # the centre, as float
    described = data.describe()
    assert described.pop("data_fingerprint")["source"] == "folder"
    assert described == {"kind": "images", "x_shape": [3, 16, 16], "classes": ["cats", "dogs"]}
    batch = data.batches(load_config("cs236_vae", ["train.batch_size=4"])[0].train).next()
    assert batch["x"].dtype == torch.float32 and batch["x"].shape == (4, 3, 16, 16) and batch["x"].max() <= 1
    x_X, x_Y = data.domains("train")  # two classes: the two domains, labels 0 and 1
    assert len(x_X) + len(x_Y) == len(data.train_x)
    examples = data.examples(4, keys=("x", "x_b"))
    assert examples["x"].shape == examples["x_b"].shape == (4, 3, 16, 16) and examples["x"].dtype == torch.float32
    assert "the image folder" in data.summary() and "2 classes" in data.summary()


@pytest.mark.parametrize("name, x, kind", [("8gaussians", None, "points"),
                                           ("array", np.zeros((30, 4), np.float32), "table"),
                                           ("array", np.zeros((30, 8, 8), np.uint8), "images")])
def test_the_kind_of_the_data(tmp_path, name, x, kind):
    path = ""
    if x is not None:
        path = str(tmp_path / "x.npy")
        np.save(path, x + np.arange(len(x)).reshape(-1, *[1] * (x.ndim - 1)).astype(x.dtype))
    data = prepare(config(name=name, path=path, n_train=40, n_test=10), device="cpu")
    assert data.kind == kind and data.describe()["kind"] == kind


def test_labels_are_asked_of_the_data_only_when_a_model_reads_them():
    x = torch.rand(6, 1, 4, 4)
    data = Data.of(ImageData(x, None, x, None, name="t"), config(name="folder", path="x"))
    with pytest.raises(UserError, match='model.name = "cvae" needs labels'):
        data.require_labels('model.name = "cvae"')
    train = load_config("cs236_vae", ["train.batch_size=2"])[0].train
    assert set(data.batches(train).next()) == {"x"}  # a VAE reads x alone


def test_a_dataframe_trains_and_its_column_names_reach_the_figures_and_the_csv(tmp_path, monkeypatch):
    pd = pytest.importorskip("pandas")
    from latentlab.viz import tables

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"alcohol": rng.normal(13, 1, 80), "malic acid": rng.normal(2, 1, 80),
                          "ash, total": rng.normal(2.4, 0.3, 80)})
    titles = {}
    real = tables.feature_histograms
    monkeypatch.setattr(tables, "feature_histograms",
                        lambda r, g, path, names=None: titles.setdefault("names", names) and real(r, g, path, names))
    run = api.train("cs236_vae", data=frame, out=tmp_path / "run", quiet=True,
                    overrides=[*QUICK, "model.likelihood=gaussian", "model.z_dim=2"])
    meta = json.loads((run / "run.json").read_text())
    assert meta["kind"] == "table" and meta["columns"] == ["alcohol", "malic acid", "ash, total"]
    assert titles["names"] == ("alcohol", "malic acid", "ash, total")
    assert {p.name for p in (run / "figures").glob("*.png")} >= {"features.png", "pairs.png"}
    header = api.sample(run, n=3).read_text().splitlines()[0]
    assert header == 'alcohol,malic acid,"ash, total"'
    api.evaluate(run)  # from the kept copy: the names come back with it
    assert titles["names"] == ("alcohol", "malic acid", "ash, total")


def test_a_dataframe_with_text_columns_is_refused_in_one_line(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "colour": ["red", "green", "blue"]})
    with pytest.raises(UserError, match=r"^data=: x has columns that are not numbers \(colour\)"):
        api.train("cs236_vae", data=frame, out=tmp_path / "run", quiet=True, overrides=QUICK)


def test_a_run_on_a_folder_does_not_claim_its_preset_dataset(tmp_path):
    photos = folder_of_photos(tmp_path / "photos")
    run = api.train("cs236_vae", out=tmp_path / "run", quiet=True,
                    overrides=[*QUICK, 'data.name="folder"', f'data.path="{photos}"', 'model.net="conv"',
                               "model.likelihood=gaussian", 'eval.reference=""', "eval.figures=false"])
    first = tomllib.loads((run / "config.toml").read_text())["description"]
    assert "MNIST" not in first and f"vae on the image folder {photos} (24 images, 3×20×24, 2 classes)" in first
    assert "settings of cs236_vae, written for mnist" in first
    assert "MNIST" not in (run / "report.html").read_text().split("<p>", 1)[1].split("</p>", 1)[0]


def test_a_run_on_arrays_says_it_trains_on_the_arrays_handed_over(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 3))
    run = api.train("cs236_vae", data=x, out=tmp_path / "run", quiet=True,
                    overrides=[*QUICK, "model.likelihood=gaussian", "model.z_dim=2", "eval.figures=false"])
    first = tomllib.loads((run / "config.toml").read_text())["description"]
    assert first == ("vae on arrays handed to latentlab.train(data=...) (40 rows of 3 columns); "
                     "settings of cs236_vae, written for mnist")
