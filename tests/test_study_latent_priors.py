"""The latent-priors study end to end at the quick budget (its numbers there are not meaningful: the runs, the
tables, the figures and the checks are; test_study_rerun.py reruns it), the plane figure, and the prior's draws in
a prior run's explorer."""

import json

import numpy as np
import pytest
import torch

from latentlab.evaluation.decoder_layers import decode_floats
from latentlab.evaluation.explorer import N_PRIOR_DRAWS, explorer_data
from latentlab.registry import build_config, build_model
from latentlab.run import Run
from latentlab.studies import latent_priors as lp
from latentlab.viz.latent_priors import prior_planes

PARENTS, KINDS = ("vae", "ae", "vae_z2"), ("gmm", "two-stage", "diffusion")


def test_latent_priors_quick(quick_study):
    out = quick_study("latent-priors")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["study"] == "latent-priors" and summary["budget"] == "quick"
    for data in ("mnist", "fashion_mnist"):
        scores = summary["scores"][data]
        assert sorted(scores) == sorted(f"{p}.{k}" for p in PARENTS for k in ("normal", *KINDS))
        for p in PARENTS:
            parent = Run.open(out / "runs" / f"{data}-{p}")
            assert parent.config.data.name == data and parent.finished
            for kind in KINDS:  # each prior a run of its own, made as `latentlab prior` makes it, of this parent
                run = Run.open(out / "runs" / f"{data}-{p}-{kind}")
                assert run.config.model.kind == kind and run.config.model.parent == str(parent.path.resolve())
                assert run.results["protocol"]["name"] == "latent_prior"
        vae, ae = scores["vae.gmm"], scores["ae.gmm"]
        assert {"energy", "mmd2", "elbo", "iwae_10", "fid", "fid_means"} <= set(vae)
        assert set(vae["seconds"]) == {"fit_s", "sample_s_per_1000"}
        assert "elbo" not in ae and "elbo" not in scores["vae.diffusion"]  # no q(z|x) density; no p(z)
        assert scores["vae.normal"]["seconds"]["fit_s"] == 0
        assert all(q["seconds"]["sample_s_per_1000"] > 0 for q in scores.values())
        assert (out / f"plane_{data}.png").stat().st_size > 0 and (out / f"draws_{data}.png").stat().st_size > 0
    names = [c["name"] for c in summary["checks"]]
    assert len(names) == 2 * 4 + 2  # energy × 3 and the ELBO per dataset; the two FID findings on MNIST
    assert any("latent DDPM's FID" in n for n in names) and any("AE with a mixture" in n for n in names)
    page = (out / "report.html").read_text()
    assert page.count("<table") == 2 and "Fashion-MNIST" in page


def test_a_prior_runs_explorer_holds_draws_of_its_prior(quick_study):
    out = quick_study("latent-priors")
    run = Run.open(out / "runs" / "mnist-vae-gmm")
    data = json.loads(run.explorer_path.read_text())
    draws = data["prior_draws"]
    assert draws["kind"] == "gmm" and draws["n"] == N_PRIOR_DRAWS
    z = decode_floats(draws["z"], (draws["n"], data["z_dim"]))
    expected = run.load_model("cpu").sample_z(N_PRIOR_DRAWS, torch.Generator().manual_seed(run.config.train.seed))
    np.testing.assert_allclose(z, expected.detach().double().numpy(), atol=1e-6)  # the run's seed, the fitted prior
    page = run.report_path.read_text()
    assert 'class="xp-draw"' in page and "draw from this prior (gmm)" in page


def test_a_plain_vae_has_no_prior_draws(one_thread):
    model = build_model(build_config({"model": {"name": "vae", "z_dim": 2, "net": "v1"}}).model, (1, 28, 28)).eval()
    data = explorer_data(model, torch.rand(20, 1, 28, 28), torch.arange(20) % 10)
    assert "prior_draws" not in data and "plane" in data


def test_prior_planes_draws_a_panel_per_prior(tmp_path):
    g = torch.Generator().manual_seed(0)
    codes, labels = torch.randn(200, 2, generator=g), torch.arange(200) % 10
    draws = [(name, torch.randn(100, 2, generator=g)) for name in lp.PRIORS.values()]
    path = prior_planes(codes, labels, draws, tmp_path / "plane.png", title="four priors")
    assert path.stat().st_size > 0
    assert prior_planes(codes, None, draws[:1], tmp_path / "one.png").stat().st_size > 0  # no labels: one colour
    with pytest.raises(ValueError):
        prior_planes(torch.randn(10, 3), None, draws, tmp_path / "bad.png")
