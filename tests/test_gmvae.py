"""The GMVAE against its mathematics: a one-component prior is the Gaussian prior; the mixture prior."""

import math

import torch
import torch.nn.functional as F

from latentlab.models.gmvae import GMVAE, GMVAEConfig
from latentlab.models.vae import VAE, VAEConfig
from latentlab.probability import log_normal, log_normal_mixture


def test_one_component_prior_is_the_gaussian_prior():
    vae = VAE(VAEConfig(z_dim=3), (1, 8, 8))
    gmvae = GMVAE(GMVAEConfig(z_dim=3, k=1), (1, 8, 8))
    gmvae.load_state_dict(vae.state_dict(), strict=False)  # the same encoder and decoder
    with torch.no_grad():  # means 0, variances softplus(h) + 1e-8 = 1
        gmvae.prior.means_and_raw_var[0] = 0.0
        gmvae.prior.means_and_raw_var[1] = math.log(math.expm1(1 - 1e-8))
    means, var = gmvae.prior.components()
    torch.testing.assert_close(means, torch.zeros(1, 3))
    torch.testing.assert_close(var, torch.ones(1, 3))
    x = torch.bernoulli(torch.rand(6, 1, 8, 8))
    for k in (1, 7):
        torch.manual_seed(k)
        expected = vae.log_likelihood_bound(x, k)
        torch.manual_seed(k)
        torch.testing.assert_close(gmvae.log_likelihood_bound(x, k), expected)
    torch.manual_seed(3)  # the one-sample -ELBO is -IWAE-1 on the same sample
    nelbo = gmvae.loss({"x": x}, "model")["nelbo"]
    torch.manual_seed(3)
    torch.testing.assert_close(nelbo, -vae.log_likelihood_bound(x, 1).mean())


def test_prior_follows_the_protocol_parametrisation():
    model = GMVAE(GMVAEConfig(z_dim=4, k=6), (1, 8, 8))
    assert model.prior.means_and_raw_var.shape == (2, 6, 4)
    means, var = model.prior.components()
    torch.testing.assert_close(means, model.prior.means_and_raw_var[0])  # the first k rows are the means
    torch.testing.assert_close(var, F.softplus(model.prior.means_and_raw_var[1]) + 1e-8)
    # init randn/√(k·z): sd 1/√24 ≈ 0.2; 48 draws put the sample sd well inside (0.1, 0.35)
    assert 0.1 < float(model.prior.means_and_raw_var.detach().std()) < 0.35


def test_kl_is_log_q_minus_log_mixture_on_the_sample():
    model = GMVAE(GMVAEConfig(z_dim=2, k=5), (1, 4, 4))
    x = torch.bernoulli(torch.rand(3, 1, 4, 4))
    torch.manual_seed(0)
    _, kl, rec = model.negative_elbo_terms(x)
    torch.manual_seed(0)
    q_mean, q_var = model.encode(x)
    z = q_mean + q_var.sqrt() * torch.randn_like(q_mean)
    torch.testing.assert_close(kl, log_normal(z, q_mean, q_var) - log_normal_mixture(z, *model.prior.components()))
    torch.testing.assert_close(rec, -model.log_px_given_z(x, z))


def test_sample_z_picks_a_component_then_draws_from_it():
    model = GMVAE(GMVAEConfig(z_dim=2, k=3), (1, 4, 4))
    with torch.no_grad():
        model.prior.means_and_raw_var[0] = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
        model.prior.means_and_raw_var[1] = -9.0  # variance softplus(-9) ≈ 1.2e-4: sd 0.011
    with torch.no_grad():
        z = model.sample_z(3000, torch.Generator().manual_seed(0))
        nearest = torch.cdist(z, model.prior.components()[0]).min(1)
    assert float(nearest.values.max()) < 0.1  # every draw sits on one of the means
    counts = torch.bincount(nearest.indices, minlength=3)
    assert int(counts.min()) > 900  # uniform weights: ~1000 each (binomial sd 26)


def test_mixture_log_density_is_exact_for_narrow_components():
    """Guards the matrix-product expansion of log_normal_mixture against cancellation."""
    means, var = torch.randn(50, 10) * 2, torch.rand(50, 10) * 0.05 + 1e-3
    z = means[torch.randint(50, (400,))] + 0.1 * torch.randn(400, 10)
    direct = torch.logsumexp(log_normal(z.double()[:, None], means.double(), var.double()), -1) - math.log(50)
    torch.testing.assert_close(log_normal_mixture(z, means, var).double(), direct, atol=0.02, rtol=1e-5)
    torch.testing.assert_close(log_normal_mixture(z.double(), means.double(), var.double()), direct)
