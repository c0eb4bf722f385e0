"""Post-hoc latent priors (models/latent_prior.py): the mixture's EM, fitting each prior on a tiny parent run,
exact resume, refusals of parents that cannot take one, and the parent's files left as they were; the prior per
label of a conditional parent (models/latent_prior_conditional.py, models/prior_per_label.py) likewise."""

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
from latentlab.evaluation.explorer import explorer_data
from latentlab.evaluation.latent_prior_metrics import latent_distances
from latentlab.models.prior_gmm import GaussianMixturePrior
from latentlab.models.prior_per_label import PerLabel
from latentlab.models.prior_two_stage import TwoStagePrior
from latentlab.run import Run

TINY = ["train.iterations=6", "train.batch_size=16", "train.log_every=2", "train.checkpoint_every=3",
        "eval.protocol=test", "eval.iwae_k=[1,4]", "eval.iwae_repeats=[1,1]", "eval.figures=false",
        "data.binarize=none", "model.likelihood=gaussian", "model.z_dim=2"]
PRIOR_TINY = {"gmm": ["model.components=3"],
              "two-stage": ["train.iterations=6", "train.batch_size=16", "model.hidden=16", "train.checkpoint_every=3"],
              "diffusion": ["train.iterations=6", "train.batch_size=16", "model.hidden=16", "model.timesteps=20",
                            "model.sampler=ddim", "model.ddim_steps=5", "train.checkpoint_every=3"]}


def clusters(n: int = 240, d: int = 6, seed: int = 0, labels: bool = False):
    """Rows from three far-apart clusters: an autoencoder's codes of them are far from N(0, I). With `labels`:
    (rows, the cluster of each row as its label)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (3, d))
    y = rng.integers(0, 3, n)
    x = (centres[y] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    return (x, y) if labels else x


def resumed_equals_uninterrupted(parent, kind: str, tmp_path) -> dict:
    """Fit a `kind` prior on `parent` 6 iterations straight and 3 + 3 with a resume; asserts the two step-6
    checkpoints are bit-identical and returns the uninterrupted one's tensors."""
    full = api.prior(parent, kind=kind, overrides=PRIOR_TINY[kind], out=tmp_path / "full", quiet=True,
                     evaluate_after=False)
    part = api.prior(parent, kind=kind, overrides=[*PRIOR_TINY[kind], "train.iterations=3"], out=tmp_path / "part",
                     quiet=True, evaluate_after=False)
    api.train(None, resume=part, overrides=["train.iterations=6"], quiet=True, evaluate_after=False)
    a = load_file(full / "checkpoints" / "step-00000006.safetensors")
    b = load_file(part / "checkpoints" / "step-00000006.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit-identical on CPU
    return a


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


@pytest.fixture(scope="module")
def cvae(tmp_path_factory):
    """A tiny CVAE trained on the clustered table with the clusters as its three labels."""
    torch.set_num_threads(1)
    x, y = clusters(labels=True)
    return api.train("cs236_cvae_mnist", data={"x": x, "y": y}, out=tmp_path_factory.mktemp("cvae") / "run",
                     quiet=True, overrides=[*TINY, "model.n_classes=3", "model.hidden=32"])


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
    resumed_equals_uninterrupted(vae, kind, tmp_path)


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


# ----------------------------------------------------------------------------- a prior per label (a CVAE parent)


def test_a_mixture_per_label_draws_each_row_from_its_own_labels_codes():
    """Codes of three labels around centres 20 apart: each label's mixture is fitted on its own codes only, so a
    row drawn for label y lies near y's centre (a prior fitted on all the codes, or rows given the wrong label's
    draws, would put most rows near another centre), and log p(z|y) is highest under the row's own label."""
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-20.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    y = torch.randint(3, (900,), generator=g)
    z = centres[y] + torch.randn(900, 2, generator=g)
    prior = PerLabel([GaussianMixturePrior(2, 2) for _ in range(3)])
    prior.fit(z, y, k=2, select_by_bic=False, seed=0)
    asked = torch.tensor([2, 0, 1, 1, 2, 0] * 50)
    drawn = prior.sample(asked, torch.Generator().manual_seed(1))
    assert drawn.shape == (300, 2)
    assert (drawn - centres[asked]).norm(dim=1).max() < 6  # every row within 6 of its own label's centre
    log_p = torch.stack([prior.log_prob(drawn, torch.full_like(asked, label), lambda p, zy: p.log_prob(zy))
                         for label in range(3)], 1)  # (300, 3): each row under each label's prior
    assert torch.equal(log_p.argmax(1), asked)


@pytest.mark.parametrize("kind", ["gmm", "two-stage", "diffusion"])
def test_each_prior_per_label_fits_on_a_cvae_and_samples_the_labels_asked_for(cvae, kind, tmp_path, capsys):
    from latentlab.models.latent_prior_conditional import ConditionalLatentPrior

    before = hashes(cvae.path)
    code = main(["prior", str(cvae), "--kind", kind, "--out", str(tmp_path / kind), "--quiet",
                 *[a for o in PRIOR_TINY[kind] for a in ("--set", o)]])
    assert code == 0, capsys.readouterr().err
    run = Run(tmp_path / kind)
    sections = run.results["sections"]
    for side in ("prior", "normal"):
        assert math.isfinite(sections[side]["energy"]) and sections[side]["mmd2"] >= 0
    if kind == "diffusion":
        assert "elbo" not in sections["prior"]
    else:  # bounds on log p(x|y) with p(z|y), beside N(0, I)'s on the same draws
        assert math.isfinite(sections["prior"]["elbo"]) and math.isfinite(sections["normal"]["elbo"])
        assert sections["prior"]["elbo"] <= sections["prior"]["iwae_10"] + 1.0
    model = run.load_model("cpu")
    assert isinstance(model, ConditionalLatentPrior) and len(model.prior.priors) == 3
    y = torch.tensor([2, 0, 1, 1, 0])
    with torch.no_grad():
        assert model.sample(5, y=y).shape == (5, 6) and model.sample(4).shape == (4, 6)
        assert model.sample_z_given_y(y).shape == (5, 2)
        one = model.sample_z_given_y(torch.tensor([1]), torch.Generator().manual_seed(3))
        alone = model.prior.priors[1].sample(1, torch.Generator().manual_seed(3))
    torch.testing.assert_close(one, alone)  # a row of label 1 is a draw of label 1's prior
    x_test, y_test = clusters(n=40, seed=1, labels=True)
    page = explorer_data(model, torch.from_numpy(x_test), torch.from_numpy(y_test))  # the report's explorer
    assert page["n_classes"] == 3 and page["prior_draws"]["y"][:4] == [0, 1, 2, 0]
    assert main(["sample", str(run), "-n", "7"]) == 0
    assert hashes(cvae.path) == before  # not one byte of the parent changed


def test_the_cvae_priors_draws_follow_the_label_asked_for(cvae, tmp_path):
    """With each label's mixture moved far off (label y's means at 50·(y + 1)), a draw lies near the mean of
    the label it was asked for, whatever the order of the labels."""
    run = api.prior(cvae, kind="gmm", overrides=PRIOR_TINY["gmm"], out=tmp_path / "gmm", quiet=True,
                    evaluate_after=False)
    model = run.load_model("cpu")
    with torch.no_grad():
        for label, prior in enumerate(model.prior.priors):
            prior.means += 50.0 * (label + 1)
        y = torch.tensor([2, 0, 1, 2, 1, 0, 0, 2])
        z = model.sample_z_given_y(y, torch.Generator().manual_seed(0))
    nearest = (z.mean(1, keepdim=True) - 50.0 * torch.arange(1, 4)).abs().argmin(1)
    assert torch.equal(nearest, y)


@pytest.mark.parametrize("kind", ["two-stage", "diffusion"])
def test_resume_of_a_prior_per_label_equals_an_uninterrupted_fit(cvae, kind, tmp_path):
    a = resumed_equals_uninterrupted(cvae, kind, tmp_path)
    assert any(k.startswith("/model/prior.priors.2.") for k in a)  # the three labels' priors are kept


def test_the_conditional_grid_of_a_prior_per_label_draws_each_row_from_its_label(monkeypatch, tmp_path):
    from latentlab.evaluation import figures

    class Fake:  # z ~ p(z|y) is y/4, and E[x|y, z] = z: each cell shows the label its z was drawn for
        n_classes, parent, fit_s = 4, None, torch.zeros(())

        def sample_z_given_y(self, y, generator=None):
            return y.float()[:, None] / 4

        def decode_given_y(self, z, y):
            return z.view(-1, 1, 1, 1).expand(-1, 1, 2, 2)

    drawn = {}
    monkeypatch.setattr(figures.fig, "image_rows", lambda panels, labels, path: drawn.update(panels=panels) or path)
    figures.conditional_grid(Fake(), tmp_path / "grid.png", torch.Generator(), n_z=5)
    (title, grid), = drawn["panels"]
    assert "p(z \\mid y)" in title and grid.shape == (4, 5, 1, 2, 2)
    torch.testing.assert_close(grid[:, :, 0, 0, 0], torch.arange(4.0)[:, None].expand(4, 5) / 4)  # row y holds z ~ p(z|y)


def test_a_semi_supervised_parent_is_refused_in_one_line():
    """The M2 SSVAE has q(z|x, y) but labels for few training images and no x ~ p(x|y, z): no prior per label."""
    from latentlab.errors import UserError
    from latentlab.models.latent_prior import check_parent
    from latentlab.models.ssvae import SSVAE, SSVAEConfig

    with pytest.raises(UserError, match="need a label for every training image") as refused:
        check_parent(SSVAE(SSVAEConfig(), (1, 28, 28)), "runs/m2", "ssvae")
    assert "\n" not in str(refused.value)
