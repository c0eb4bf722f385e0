"""The faces and vae-2d studies end to end on their quick budgets, and the pieces they measure with."""

import json

import pytest
import torch
from PIL import Image

from latentlab.data.handoff import resized
from latentlab.data.datasets import ImageData
from latentlab.errors import UserError
from latentlab.registry import load_config
from latentlab.studies import studies
from latentlab.studies.faces_geometry import bend, pca_frechet, principal_axes


def _pngs_ok(paths):
    for p in paths:
        with Image.open(p) as img:
            assert img.format == "PNG" and min(img.size) > 100


def test_area_downsampling_averages_blocks_and_rejects_bad_sizes():
    x = torch.rand(3, 1, 64, 64)
    data = ImageData(x, None, x[:1], None, name="t")
    small = resized(data, (32, 32))
    torch.testing.assert_close(small.train_x, x.unfold(2, 2, 2).unfold(3, 2, 2).mean((-1, -2)))  # 2×2 block means
    assert resized(data, (24, 24)).test_x.shape == (1, 1, 24, 24)
    assert resized(data, ()) is data
    with pytest.raises(UserError, match="image_size"):
        resized(data, (24,))
    cfg, _ = load_config("faces_vae")
    assert cfg.data.image_size == (24, 24) and cfg.data.binarize == "none"


def test_pca_frechet_and_bend_measure_what_they_claim():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(300, 1, 6, 6, generator=g)
    pca = principal_axes(x, 5)
    assert abs(pca_frechet(x, pca)) < 1e-8  # a set against itself
    assert pca_frechet(x * 0.5, pca) > 0.1  # shrunk towards 0: different moments
    line = torch.linspace(0, 1, 20)[:, None] * torch.randn(1, 36, generator=g) + 0.3
    assert bend(line) < 1e-6
    curved = line.clone()
    curved[10] += torch.randn(36, generator=g)
    assert bend(curved) > 0.1


def test_studies_are_registered():
    assert {"faces", "faces-frey", "elbo-1d", "vae-2d"} <= set(studies())


def test_faces_study_quick(quick_study):
    out = quick_study("faces")
    s = json.loads((out / "summary.json").read_text())
    assert (out / "report.html").exists() and s["image_shape"] == [1, 24, 24]
    assert (s["n_train"], s["n_test"]) == (320, 80)
    _faces_numbers(s)
    figures = sorted((out / "figures").iterdir())
    assert [p.name for p in figures] == ["beta_sweep.png", "collages.png", "interpolation.png", "latent_pca.png",
                                         "walk.png", "walk_chord.png"]
    _pngs_ok(figures)


def test_faces_frey_study_quick(quick_study):
    out = quick_study("faces-frey")
    s = json.loads((out / "summary.json").read_text())
    assert s["dataset"] == "frey_faces" and s["image_shape"] == [1, 28, 20]  # the native size
    _faces_numbers(s)
    _pngs_ok(sorted((out / "figures").iterdir()))


def _faces_numbers(s: dict) -> None:
    # β is the sweep value whose samples lie closest to the training faces
    assert s["beta"] == min((float(b) for b in s["beta_sweep"]), key=lambda b: s["beta_sweep"][f"{b:g}"]["fd"])
    m = s["models"]
    # P-PCA's closed-form reconstruction beats 10 steps of either network (measured MSE per pixel at seed 0:
    # P-PCA 0.003 Olivetti / 0.005 Frey, the networks 0.013-0.030)
    assert all(m["ppca"]["test_mse"] < m[k]["test_mse"] < 0.1 for k in ("vae", "ae", "vae_gaussian"))
    # P-PCA's exact density at its own closed-form optimum is higher on its training faces than on the test faces
    assert m["ppca"]["log_px_train"] > m["ppca"]["log_px"] > 0
    assert torch.isfinite(torch.tensor(m["vae_gaussian"]["log_px"]))
    assert s["walk"]["ppca"] < 1e-4  # P-PCA decodes linearly: the walk is a straight line


def test_vae_2d_study_quick(quick_study):
    out = quick_study("vae-2d")
    s = json.loads((out / "summary.json").read_text())
    # 20 iterations: a 5-NN vote on the 2-D codes already beats chance (0.1): measured 0.204 at seed 0
    assert s["step"] == 20 and 0.15 < s["knn_accuracy"] < 1
    assert {"nelbo", "kl", "rec", "-iwae_1", "-iwae_10"} <= set(s["sections"]["subset"])
    figures = out / "runs" / "vae_z2" / "figures"
    _pngs_ok(figures / f for f in ("samples.png", "latent_manifold.png", "latent_scatter.png", "interpolation.png"))
