"""Post-hoc latent priors (models/latent_prior.py): the mixture's EM, fitting each prior on a tiny parent run,
exact resume, refusals of parents that cannot take one, and the parent's files left as they were."""

from __future__ import annotations

import hashlib
import json
import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import latentlab.api as api
from latentlab.cli import main
from latentlab.evaluation.latent_prior_metrics import latent_distances
from latentlab.models.prior_gmm import GaussianMixturePrior
from latentlab.models.prior_two_stage import TwoStagePrior
from latentlab.run import Run

TINY = ["train.iterations=6", "train.batch_size=16", "train.log_every=2", "train.checkpoint_every=3",
        "eval.protocol=test", "eval.iwae_k=[1,4]", "eval.iwae_repeats=[1,1]", "eval.figures=false",
        "data.binarize=none", "model.likelihood=gaussian", "model.z_dim=2"]
PRIOR_TINY = {"gmm": ["model.components=3"],
              "two-stage": ["train.iterations=6", "train.batch_size=16", "model.hidden=16", "train.checkpoint_every=3"],
              "diffusion": ["train.iterations=6", "train.batch_size=16", "model.hidden=16", "model.timesteps=20",
                            "model.sampler=ddim", "model.ddim_steps=5", "train.checkpoint_every=3"]}


def clusters(n: int = 240, d: int = 6, seed: int = 0) -> np.ndarray:
    """Rows from three far-apart clusters: an autoencoder's codes of them are far from N(0, I)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (3, d))
    return (centres[rng.integers(0, 3, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


def hashes(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def parents(tmp_path_factory):
    """A tiny VAE and a tiny AE trained on the clustered table (each keeps its copy of the arrays)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("parents")
    x = clusters()
    vae = api.train("cs236_vae", data=x, out=root / "vae", quiet=True, overrides=TINY)
    ae = api.train("cs236_vae", data=x, out=root / "ae", quiet=True,
                   overrides=[*TINY, "model.name=ae", "eval.protocol=none", "train.iterations=60"])
    return vae, ae


def test_em_recovers_a_mixture_and_its_density_is_torch_distributions():
    g = torch.Generator().manual_seed(0)
    means = torch.tensor([[-6.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    z = means[torch.randint(3, (3000,), generator=g)] + torch.randn(3000, 2, generator=g) @ torch.tensor([[1.0, 0.5], [0.0, 0.7]])
    prior = GaussianMixturePrior(2, 6)
    fitted = prior.fit(z, k=6, select_by_bic=True, seed=0)
    assert fitted["k"] == 3  # BIC finds the three components, not six
    found = prior.means[:3].detach()
    assert torch.cdist(found, means).min(1).values.max() < 0.2
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=prior.log_pi[:3]),
        torch.distributions.MultivariateNormal(prior.means[:3].detach(), scale_tril=prior.scale_tril[:3]))
    torch.testing.assert_close(prior.log_prob(z[:50]), mix.log_prob(z[:50]), rtol=1e-5, atol=1e-4)
    draws = prior.sample(4000, torch.Generator().manual_seed(1))
    assert abs(float(prior.log_prob(draws).detach().mean()) - fitted["mean_log_pz"]) < 0.1  # its draws are its own


def test_the_two_stage_prior_samples_its_generative_model_with_the_output_variance():
    """z ~ N(g(u), γ I), not g(u): with a constant second decoder g ≡ c and γ = 4, draws have mean c and
    standard deviation 2 per coordinate (the mean alone would give 0 — every draw the same point c)."""
    prior = TwoStagePrior(z_dim=3, hidden=8, layers=1)
    last = prior.decoder[-1]  # the output layer of the MLP g
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
        prior.log_gamma.fill_(math.log(4.0))
        z = prior.sample(20_000, torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), torch.tensor([1.0, -2.0, 0.5]), atol=0.05)
    assert torch.allclose(z.std(0), torch.full((3,), 2.0), atol=0.05)


@pytest.mark.parametrize("kind", ["gmm", "two-stage", "diffusion"])
def test_each_prior_fits_decodes_and_leaves_the_parent_as_it_was(parents, kind, tmp_path, capsys):
    vae, _ = parents
    before = hashes(vae.path)
    code = main(["prior", str(vae), "--kind", kind, "--out", str(tmp_path / kind), "--quiet",
                 *[a for o in PRIOR_TINY[kind] for a in ("--set", o)]])
    assert code == 0, capsys.readouterr().err
    run = Run(tmp_path / kind)
    results = run.results
    assert results["protocol"]["name"] == "latent_prior" and results["protocol"]["kind"] == kind
    for side in ("prior", "normal"):
        assert math.isfinite(results["sections"][side]["energy"]) and results["sections"][side]["mmd2"] >= 0
    if kind == "diffusion":
        assert "elbo" not in results["sections"]["prior"]  # no density, no bound
    else:
        assert results["sections"]["prior"]["elbo"] <= results["sections"]["prior"]["iwae_10"] + 1.0
    model = run.load_model("cpu")
    assert model.sample(5).shape == (5, 6) and model.sample_z(5).shape == (5, 2)
    assert main(["sample", str(run), "-n", "7"]) == 0
    assert hashes(vae.path) == before  # not one byte of the parent changed


def test_the_mixture_brings_the_prior_closer_to_clustered_codes(parents, tmp_path):
    _, ae = parents
    run = api.prior(ae, kind="gmm", overrides=PRIOR_TINY["gmm"], out=tmp_path / "gmm", quiet=True)
    latent = {side: run.results["sections"][side]["energy"] for side in ("prior", "normal")}
    assert latent["prior"] < 0.2 * latent["normal"], latent
    model = run.load_model("cpu")
    codes = model.encode_draw(torch.from_numpy(clusters(seed=1)))
    with torch.no_grad():
        assert latent_distances(model.sample_z(240), codes)["energy"] < latent_distances(torch.randn(240, 2), codes)["energy"]


@pytest.mark.parametrize("kind", ["two-stage", "diffusion"])
def test_resume_of_a_prior_equals_an_uninterrupted_fit(parents, kind, tmp_path):
    vae, _ = parents
    full = api.prior(vae, kind=kind, overrides=PRIOR_TINY[kind], out=tmp_path / "full", quiet=True,
                     evaluate_after=False)
    part = api.prior(vae, kind=kind, overrides=[*PRIOR_TINY[kind], "train.iterations=3"], out=tmp_path / "part",
                     quiet=True, evaluate_after=False)
    api.train(None, resume=part, overrides=["train.iterations=6"], quiet=True, evaluate_after=False)
    a = load_file(full / "checkpoints" / "step-00000006.safetensors")
    b = load_file(part / "checkpoints" / "step-00000006.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit-identical on CPU


def _refused(capsys, parent, out) -> str:
    code = main(["prior", str(parent), "--kind", "gmm", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert not out.exists()  # refused before anything was written
    return err


@pytest.mark.parametrize("preset, says", [("gan_8gaussians", "no encoder"), ("ddpm_8gaussians", "no encoder")])
def test_a_model_without_an_encoder_is_refused_in_one_line(preset, says, tmp_path, capsys, one_thread):
    parent = api.train(preset, out=tmp_path / "parent", quiet=True, evaluate_after=False,
                       overrides=["train.iterations=2", "train.batch_size=8"])
    before = hashes(parent.path)
    assert says in _refused(capsys, parent, tmp_path / "prior")
    assert hashes(parent.path) == before


def test_unfinished_and_damaged_parents_are_refused_in_one_line(parents, tmp_path, capsys):
    vae, _ = parents
    unfinished = tmp_path / "unfinished"
    shutil.copytree(vae.path, unfinished)
    for f in (unfinished / "checkpoints").glob("step-00000006.*"):
        f.unlink()
    assert "unfinished (step 3 of 6)" in _refused(capsys, unfinished, tmp_path / "p1")
    damaged = tmp_path / "damaged"
    shutil.copytree(vae.path, damaged)
    for f in (damaged / "checkpoints").glob("*.safetensors"):
        f.write_bytes(f.read_bytes()[:100])
    assert "cannot be read" in _refused(capsys, damaged, tmp_path / "p2")
    (damaged / "config.toml").write_text("[model]\n")
    assert "cannot be read" in _refused(capsys, damaged, tmp_path / "p3")
    assert "does not exist" in _refused(capsys, tmp_path / "nowhere", tmp_path / "p4")
