"""2-D sample metrics: closed forms on point masses, zero on identical samples, floors, mode statistics."""

import math

import pytest
import torch

from latentlab.data import toy2d
from latentlab.evaluation import sample_metrics as sm


def test_metrics_vanish_on_identical_samples():
    x = torch.randn(300, 2)
    assert sm.energy_distance(x, x) == pytest.approx(0, abs=1e-6)
    assert sm.mmd2(x, x) == pytest.approx(0, abs=1e-6)
    assert sm.sliced_wasserstein(x, x) == 0


def test_metrics_between_point_masses_have_their_closed_forms():
    a, b = torch.tensor([0.3, -0.2]), torch.tensor([1.1, 0.4])
    d = float((a - b).norm())  # 1.0
    x, y = a.expand(50, 2), b.expand(50, 2)
    assert sm.energy_distance(x, y) == pytest.approx(2 * d, rel=1e-5)  # 2|a - b| - 0 - 0
    kernel = sum(math.exp(-d**2 / (2 * h**2)) for h in sm.BANDWIDTHS) / len(sm.BANDWIDTHS)
    assert sm.mmd2(x, y) == pytest.approx(2 - 2 * kernel, rel=1e-5)  # k(a,a) + k(b,b) - 2k(a,b)
    # projections ⟨a - b, θ⟩ over evenly spaced θ ∈ [0, π): the mean of cos² is 1/2
    assert sm.sliced_wasserstein(x, y) == pytest.approx(d / math.sqrt(2), rel=1e-5)


def test_model_of_another_distribution_sits_far_above_the_floor():
    name, n = "8gaussians", 500
    floor, floor_sd = sm.real_floor(name, n, seed=0)
    assert all(floor[k] > 0 for k in ("energy", "mmd2", "sw"))
    g = torch.Generator().manual_seed(1)
    shifted = [toy2d.sample(name, n, g) * 1.3 for _ in range(3)]  # too spread by 30 %
    values, _ = sm.paired_metrics(shifted, lambda k: toy2d.sample(name, k, g), toy2d.mixture(name))
    for k, factor in (("energy", 5), ("mmd2", 5), ("sw", 2)):  # SW is not squared: its ratios are smaller
        assert values[k] > factor * floor[k], k
    real, _ = sm.paired_metrics([toy2d.sample(name, n, g) for _ in range(3)], lambda k: toy2d.sample(name, k, g))
    assert real["energy"] < 3 * floor["energy"]  # independent real draws score like the floor
    assert sm.real_floor(name, n, seed=0) == (floor, floor_sd)  # seeded (and cached)


def test_closed_form_floor_is_the_mean_over_many_real_pairs():
    """E[energy_V] = 2E‖X - X'‖/n and E[MMD²_V] = 2(1 - E k)/n between independent real draws of n."""
    name, n = "pinwheel", 100
    floor, _ = sm.real_floor(name, n, seed=0)
    g = torch.Generator().manual_seed(2)
    values = torch.tensor([sm.energy_and_mmd2(toy2d.sample(name, n, g), toy2d.sample(name, n, g))
                           for _ in range(400)])
    # 400 pairs: the means' standard errors are 3.2 % (energy) and 1.1 % (MMD²) of the floor
    assert values[:, 0].mean().item() == pytest.approx(floor["energy"], rel=0.08)
    assert values[:, 1].mean().item() == pytest.approx(floor["mmd2"], rel=0.04)


def test_mode_statistics():
    mix = toy2d.mixture("25gaussians")
    at_modes = mix.means.repeat(2, 1)
    assert sm.mode_stats(at_modes, mix) == {"modes_covered": 25, "within_3sigma": 1.0}
    off = at_modes[:10] + torch.tensor([0.0, 3.5 * mix.std])  # 3.5σ from their modes, far from the others
    assert sm.mode_stats(torch.cat([at_modes[:10], off]), mix) == {"modes_covered": 10, "within_3sigma": 0.5}


def test_relative_score_error_and_nearest_level():
    exact = torch.randn(100, 2)
    assert sm.relative_score_error(exact, exact) == 0
    assert sm.relative_score_error(1.1 * exact, exact) == pytest.approx(0.1, rel=1e-5)
    sigmas = torch.logspace(0, -2, 10)
    assert sm.nearest_level(sigmas, 1.0) == 0 and sm.nearest_level(sigmas, 0.011) == 9
