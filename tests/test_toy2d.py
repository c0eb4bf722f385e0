"""Toy 2-D distributions: seeded, standardised, and the mixtures' exact density and score."""

import math

import pytest
import torch

from latentlab.config import GENERATED
from latentlab.data import toy2d
from latentlab.errors import UserError
from latentlab.registry import build_config


def test_the_generators_are_the_names_data_name_accepts_for_generated_data():
    assert sorted(toy2d.RAW) == sorted(GENERATED)


@pytest.mark.parametrize("name", GENERATED)
def test_every_distribution_is_seeded_and_standardised(name):
    a = toy2d.sample(name, 200_000, torch.Generator().manual_seed(5))
    b = toy2d.sample(name, 200_000, torch.Generator().manual_seed(5))
    c = toy2d.sample(name, 200_000, torch.Generator().manual_seed(6))
    assert a.shape == (200_000, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    # mean 0 and variance 1 per coordinate, to ~5 standard errors of a 200k-point draw
    torch.testing.assert_close(a.mean(0), torch.zeros(2), atol=0.015, rtol=0)
    torch.testing.assert_close(a.var(0), torch.ones(2), atol=0.03, rtol=0)


@pytest.mark.parametrize("name", toy2d.MIXTURES)
def test_mixture_log_density_matches_torch_distributions(name):
    mix = toy2d.mixture(name)
    k = len(mix.means)
    reference = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(k)),
        torch.distributions.Independent(torch.distributions.Normal(mix.means, mix.std), 1))
    x = torch.randn(100, 2) * 1.5
    torch.testing.assert_close(mix.log_prob(x), reference.log_prob(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", toy2d.MIXTURES)
def test_mixture_score_is_the_gradient_of_its_log_density(name):
    mix = toy2d.mixture(name).perturbed(0.1)
    x = (torch.randn(64, 2) * 1.2).requires_grad_()
    (grad,) = torch.autograd.grad(mix.log_prob(x).sum(), x)
    torch.testing.assert_close(mix.score(x.detach()), grad, rtol=1e-4, atol=1e-4)


def test_the_mixture_is_the_law_of_the_samples():
    for name in toy2d.MIXTURES:
        mix = toy2d.mixture(name)
        x = toy2d.sample(name, 100_000, torch.Generator().manual_seed(0))
        nearest = torch.cdist(x, mix.means).min(-1).values
        # the squared distance to the own mode is std²·χ²₂: P(d < 3 std) = 1 - e^{-9/2} in 2-D
        assert abs((nearest < 3 * mix.std).float().mean().item() - (1 - math.exp(-4.5))) < 0.003
        counts = torch.bincount(torch.cdist(x, mix.means).argmin(-1), minlength=len(mix.means))
        assert counts.min() > 0.8 * len(x) / len(mix.means)  # uniform weights


def test_perturbed_mixture_is_the_law_of_scaled_noisy_draws():
    mix = toy2d.mixture("8gaussians")
    g = torch.Generator().manual_seed(1)
    x = 0.6 * mix.sample(200_000, g) + 0.3 * torch.randn(200_000, 2, generator=g)
    p = mix.perturbed(0.3, scale=0.6)
    assert p.std == pytest.approx(math.sqrt(0.36 * mix.std**2 + 0.09))
    # second moment E‖x‖² = mean ‖μ_k‖² + 2 std² of the perturbed law
    expected = p.means.pow(2).sum(-1).mean() + 2 * p.std**2
    assert abs(x.pow(2).sum(-1).mean().item() - expected.item()) < 0.01


def test_load_toy2d_and_bad_names():
    data = toy2d.load_toy2d("moons", 300, 50, seed=3)
    assert data.train_x.shape == (300, 2) and data.test_x.shape == (50, 2) and data.train_y is None
    assert torch.equal(data.train_x, toy2d.load_toy2d("moons", 300, 50, seed=3).train_x)
    with pytest.raises(UserError, match="unknown 2-D distribution"):
        toy2d.sample("9gaussians", 3)
    with pytest.raises(UserError, match="n_train"):
        toy2d.load_toy2d("moons", 0, 5, seed=0)


def test_prepare_gives_toy_data_as_points_and_rejects_binarization():
    from latentlab.data.handoff import prepare

    config = build_config({"model": {"name": "ddpm"}, "eval": {"protocol": "samples2d"},
                           "data": {"name": "checkerboard", "binarize": "none", "n_train": 64, "n_test": 16}})
    data = prepare(config, None, "cpu")
    assert data.train_x.shape == (64, 2) and data.name == "checkerboard" and data.kind == "points"
    with pytest.raises(UserError, match='data.binarize = "dynamic" is not accepted: "none" for the 2-D'):
        build_config({"model": {"name": "ddpm"}, "eval": {"protocol": "samples2d"},
                      "data": {"name": "checkerboard"}})  # binarize defaults to dynamic
