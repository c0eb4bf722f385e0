"""The priors against torch.distributions, their samples' moments, and one return type and one -IWAE name."""

import torch
from torch import distributions as D

from latentlab.evaluation.likelihood import bounds
from latentlab.models.cvae import CVAE, CVAEConfig
from latentlab.models.gmvae import GMVAE, GMVAEConfig
from latentlab.models.priors import Mixture, StandardNormal
from latentlab.models.ssvae import SSVAE, SSVAEConfig
from latentlab.models.vae import VAE, VAEConfig
from latentlab.objectives.elbo import ELBOTerms, iwae_key
from latentlab.probability import log_normal


def spread_mixture() -> Mixture:
    """Three well-separated components with unequal variances, (K, Z) = (3, 2)."""
    prior = Mixture(3, 2)
    with torch.no_grad():
        prior.means_and_raw_var[0] = torch.tensor([[0.0, 0.0], [4.0, -1.0], [-2.0, 3.0]])
        prior.means_and_raw_var[1] = torch.tensor([[0.0, -1.0], [1.0, 0.5], [-2.0, 0.0]])
    return prior


def test_standard_normal_log_prob_and_kl_equal_torch_distributions():
    prior, z = StandardNormal(4), torch.randn(5, 3, 4) * 2
    expected = D.Independent(D.Normal(torch.zeros(4), torch.ones(4)), 1).log_prob(z)  # (5, 3)
    torch.testing.assert_close(prior.log_prob(z), expected)
    q_mean, q_var = torch.randn(3, 4), torch.rand(3, 4) + 0.1
    q = D.Independent(D.Normal(q_mean, q_var.sqrt()), 1)
    p = D.Independent(D.Normal(torch.zeros(4), torch.ones(4)), 1)
    torch.testing.assert_close(prior.kl(q_mean, q_var, z[0]), D.kl_divergence(q, p))


def test_mixture_log_prob_equals_mixture_same_family():
    prior = Mixture(7, 3)  # the protocol's initialisation: randn/√(K·Z) means, softplus variances
    means, var = prior.components()
    p = D.MixtureSameFamily(D.Categorical(logits=torch.zeros(7)), D.Independent(D.Normal(means, var.sqrt()), 1))
    z = torch.randn(4, 5, 3)
    torch.testing.assert_close(prior.log_prob(z), p.log_prob(z), atol=1e-4, rtol=1e-5)  # the matmul form: ~1e-5 here
    prior = spread_mixture()
    means, var = prior.components()
    p = D.MixtureSameFamily(D.Categorical(logits=torch.zeros(3)), D.Independent(D.Normal(means, var.sqrt()), 1))
    z = torch.randn(200, 2) * 3
    torch.testing.assert_close(prior.log_prob(z), p.log_prob(z), atol=1e-4, rtol=1e-5)
    q_mean, q_var = torch.randn(200, 2), torch.rand(200, 2) + 0.1  # no closed form: log q - log p at z
    torch.testing.assert_close(prior.kl(q_mean, q_var, z), log_normal(z, q_mean, q_var) - p.log_prob(z),
                               atol=1e-4, rtol=1e-5)


def test_standard_normal_samples_have_zero_mean_and_identity_covariance():
    z = StandardNormal(3).sample(40_000, torch.Generator().manual_seed(0))
    assert z.shape == (40_000, 3)
    # the sample mean's sd is 1/√40,000 = 0.005 and a covariance entry's about 0.007: 0.03 is > 4 sd
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(z.T), torch.eye(3), atol=0.03, rtol=0)


def test_mixture_samples_have_the_mixture_moments():
    prior = spread_mixture()
    means, var = prior.components()
    with torch.no_grad():
        z = prior.sample(60_000, torch.Generator().manual_seed(0))
    assert z.shape == (60_000, 2)
    # E z = mean of the μ_k; Cov z = mean of (diag σ²_k + μ_k μ_kᵀ) - E z E zᵀ (law of total covariance)
    mean = means.mean(0)
    cov = torch.diag_embed(var).mean(0) + (means[:, :, None] * means[:, None, :]).mean(0) - mean[:, None] * mean
    # the sample mean's sd is at most √(9/60,000) ≈ 0.012, a covariance entry's about 0.05: 0.06 / 0.25 are > 4 sd
    torch.testing.assert_close(z.mean(0), mean.detach(), atol=0.06, rtol=0)
    torch.testing.assert_close(torch.cov(z.T), cov.detach(), atol=0.25, rtol=0)
    with torch.no_grad():  # seeded: reproducible
        draws = [prior.sample(5, torch.Generator().manual_seed(1)) for _ in range(2)]
    torch.testing.assert_close(*draws)


def test_every_vae_returns_elbo_terms_with_nelbo_rec_plus_kl():
    x, y = torch.bernoulli(torch.rand(4, 1, 4, 4)), torch.tensor([0, 1, 2, 0])
    models = [(VAE(VAEConfig(z_dim=2), (1, 4, 4)), (x,)), (GMVAE(GMVAEConfig(z_dim=2, k=3), (1, 4, 4)), (x,)),
              (CVAE(CVAEConfig(z_dim=2, n_classes=3, hidden=8), (1, 4, 4)), (x, y)),
              (SSVAE(SSVAEConfig(z_dim=2, n_classes=3, classifier_hidden=8), (1, 4, 4)), (x,))]
    for model, args in models:
        terms = model.negative_elbo_terms(*args)
        assert isinstance(terms, ELBOTerms), type(model).__name__
        assert all(t.shape == (4,) for t in terms)
        torch.testing.assert_close(terms.nelbo, terms.rec + terms.kl)


def test_iwae_training_logs_the_key_evaluation_reports():
    model, x = VAE(VAEConfig(z_dim=2, iwae_k=5), (1, 4, 4)), torch.bernoulli(torch.rand(6, 1, 4, 4))
    logged = set(model.loss({"x": x}, "model")) - {"loss"}
    assert logged == {iwae_key(5)} == {"-iwae_5"}
    evaluated = bounds(model, x, repeats=1, iwae_k=(5,), iwae_repeats=(1,), chunk=100)
    assert set(evaluated) == logged  # the logged term and the evaluated bound share one name


def test_checkpoints_from_before_the_prior_module_still_load():
    """Guards the loading of runs saved with `z_pre` (1, 2K, Z) and the N(0, I) buffers as state."""
    gmvae = GMVAE(GMVAEConfig(z_dim=3, k=4), (1, 4, 4))
    old = gmvae.state_dict()
    old["z_pre"] = old.pop("prior.means_and_raw_var").reshape(1, 8, 3)  # the former layout: means, then raw var
    fresh = GMVAE(GMVAEConfig(z_dim=3, k=4), (1, 4, 4))
    fresh.load_state_dict(old)
    for a, b in zip(fresh.prior.components(), gmvae.prior.components()):
        torch.testing.assert_close(a, b)
    vae = VAE(VAEConfig(z_dim=3), (1, 4, 4))
    old = {**vae.state_dict(), "z_prior_mean": torch.zeros(3), "z_prior_var": torch.ones(3)}
    VAE(VAEConfig(z_dim=3), (1, 4, 4)).load_state_dict(old)  # strict: the old buffers are dropped, not unexpected
