"""The log-densities and divergences against torch.distributions and Monte Carlo."""

import math

import torch
from torch import distributions as D

from latentlab.probability import (
    kl_categorical, kl_normal, log_bernoulli_with_logits, log_mean_exp, log_normal, log_normal_mixture,
    sample_gaussian,
)


def test_log_normal_matches_torch_distributions():
    x, m, v = torch.randn(5, 7), torch.randn(5, 7), torch.rand(5, 7) + 0.1
    expected = D.Normal(m, v.sqrt()).log_prob(x).sum(-1)
    torch.testing.assert_close(log_normal(x, m, v), expected)


def test_log_bernoulli_matches_torch_and_is_stable():
    x, logits = torch.bernoulli(torch.rand(4, 9)), torch.randn(4, 9) * 3
    torch.testing.assert_close(log_bernoulli_with_logits(x, logits), D.Bernoulli(logits=logits).log_prob(x).sum(-1))
    big = torch.tensor([[1e4, -1e4]])
    out = log_bernoulli_with_logits(torch.tensor([[1.0, 0.0]]), big)
    assert out.item() == 0.0  # log 1 exactly, no overflow
    out = log_bernoulli_with_logits(torch.tensor([[0.0, 1.0]]), big)
    assert out.item() == -2e4


def test_log_mean_exp_is_exact_for_large_magnitudes():
    for c in (1e4, -1e4):
        x = torch.tensor([c, c + math.log(3.0)], dtype=torch.float64)
        assert log_mean_exp(x).item() == c + math.log(2.0)  # log((e^c + 3e^c)/2)
    x = torch.randn(6, 3)
    torch.testing.assert_close(log_mean_exp(x, dim=0), x.exp().mean(0).log())


def test_kl_normal_closed_form_equals_monte_carlo():
    qm, qv, pm, pv = torch.randn(3, 4), torch.rand(3, 4) + 0.2, torch.randn(3, 4), torch.rand(3, 4) + 0.5
    z = sample_gaussian(qm.expand(200_000, 3, 4), qv.expand(200_000, 3, 4))
    mc = (log_normal(z, qm, qv) - log_normal(z, pm, pv)).mean(0)
    torch.testing.assert_close(kl_normal(qm, qv, pm, pv), mc, atol=0.03, rtol=0.0)
    assert torch.allclose(kl_normal(qm, qv, qm, qv), torch.zeros(3), atol=1e-6)


def test_log_normal_mixture_matches_mixture_same_family():
    means, vars_ = torch.randn(5, 3), torch.rand(5, 3) + 0.3
    mix = D.MixtureSameFamily(D.Categorical(torch.ones(5)), D.Independent(D.Normal(means, vars_.sqrt()), 1))
    z = torch.randn(8, 3)
    torch.testing.assert_close(log_normal_mixture(z, means, vars_), mix.log_prob(z))
    # one component is the Gaussian itself
    torch.testing.assert_close(log_normal_mixture(z, means[:1], vars_[:1]), log_normal(z, means[0], vars_[0]))


def test_kl_categorical_matches_torch():
    q_logits, p_logits = torch.randn(4, 10), torch.randn(4, 10)
    expected = D.kl_divergence(D.Categorical(logits=q_logits), D.Categorical(logits=p_logits))
    torch.testing.assert_close(kl_categorical(q_logits, p_logits.log_softmax(-1)), expected)


def test_sample_gaussian_moments_and_generator():
    m, v = torch.tensor([1.0, -2.0]), torch.tensor([0.25, 4.0])
    z = sample_gaussian(m.expand(100_000, 2), v.expand(100_000, 2))
    torch.testing.assert_close(z.mean(0), m, atol=0.03, rtol=0)
    torch.testing.assert_close(z.var(0), v, atol=0.06, rtol=0)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(sample_gaussian(m, v, g1), sample_gaussian(m, v, g2))
