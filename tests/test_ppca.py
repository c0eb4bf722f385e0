"""Probabilistic PCA against its mathematics: the exact density, the closed-form ML fit, EM, the posterior."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from latentlab.config import TrainConfig
from latentlab.data.batcher import Batcher
from latentlab.errors import UserError
from latentlab.models.base import Decoder, Encoder, LatentPrior, LikelihoodBound
from latentlab.models.ppca import PPCA, PPCAConfig, fit_em, mean_log_likelihood, ppca_ml
from latentlab.registry import build_config, build_model
from latentlab.training.trainer import Trainer

D, Q = 8, 2


pytestmark = pytest.mark.usefixtures("one_thread")


def toy_data(n: int = 2000, seed: int = 0) -> torch.Tensor:
    """Draws from a P-PCA with q = 2 in 8 dimensions, shaped as (N, 1, 2, 4) images, float64."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D, Q, generator=g, dtype=torch.float64) * 2
    z = torch.randn(n, Q, generator=g, dtype=torch.float64)
    x = z @ W.T + 0.3 + 0.5 * torch.randn(n, D, generator=g, dtype=torch.float64)
    return x.view(n, 1, 2, 4)


def model_with(W: torch.Tensor, mu: torch.Tensor, sigma2: float) -> PPCA:
    model = PPCA(PPCAConfig(z_dim=W.shape[1]), (1, 2, 4)).double()
    with torch.no_grad():
        model.W.copy_(W), model.mu.copy_(mu), model.log_sigma2.fill_(math.log(sigma2))
    return model


def covariance(model: PPCA) -> torch.Tensor:
    return model.W @ model.W.T + model.sigma2 * torch.eye(D, dtype=torch.float64)


@pytest.mark.parametrize("sigma2", [1.0, 1e-4])
def test_log_prob_is_the_multivariate_normal(sigma2):
    g = torch.Generator().manual_seed(1)
    model = model_with(torch.randn(D, 3, generator=g, dtype=torch.float64), torch.randn(D, dtype=torch.float64), sigma2)
    x = model.sample(50, generator=g) + torch.randn(50, 1, 2, 4, dtype=torch.float64, generator=g)  # some far away
    with torch.no_grad():
        exact = MultivariateNormal(model.mu, covariance(model)).log_prob(x.flatten(1))
        torch.testing.assert_close(model.log_prob(x), exact, rtol=1e-10, atol=1e-8)
        torch.testing.assert_close(model.log_likelihood_bound(x, 1000), exact, rtol=1e-10, atol=1e-8)


def test_closed_form_fit_is_the_maximum_and_em_reaches_it():
    x = toy_data()
    model = PPCA(PPCAConfig(z_dim=Q), (1, 2, 4)).double().fit(x)
    flat = x.flatten(1)
    S = torch.cov(flat.T, correction=0)
    with torch.no_grad():
        ll = float(model.log_prob(x).mean())
        # the per-example log-likelihood from S alone (T&B eq. 4) equals the mean of the exact densities
        assert abs(mean_log_likelihood(S, model.W, float(model.sigma2)) - ll) < 1e-9
        # σ² is the mean of the discarded eigenvalues of S
        lam = torch.linalg.eigvalsh(S).flip(0)
        assert abs(float(model.sigma2) - float(lam[Q:].mean())) < 1e-12
        g = torch.Generator().manual_seed(3)
        for _ in range(5):  # any nearby parameters are worse
            W = model.W + 0.05 * torch.randn(D, Q, generator=g, dtype=torch.float64)
            assert mean_log_likelihood(S, W, float(model.sigma2) * 1.05) < ll
    mu, W, sigma2, history = fit_em(x, Q, generator=torch.Generator().manual_seed(0))
    assert all(b >= a - 1e-12 for a, b in zip(history, history[1:])), "EM never lowers the likelihood"
    assert abs(history[-1] - ll) < 1e-6, (history[-1], ll)  # EM converges to the closed-form ML value
    assert abs(sigma2 - model.sigma2.item()) < 1e-5
    torch.testing.assert_close(W @ W.T, model.W.detach() @ model.W.detach().T, atol=0, rtol=1e-3)  # W up to a rotation
    torch.testing.assert_close(mu, model.mu)


def test_posterior_is_gaussian_conditioning_of_the_joint():
    model = PPCA(PPCAConfig(z_dim=Q), (1, 2, 4)).double().fit(toy_data())
    x = toy_data(5, seed=9)
    with torch.no_grad():
        C = covariance(model)
        # joint of (z, x): Cov(z, x) = Wᵀ, so E[z|x] = Wᵀ C⁻¹ (x − μ), Cov[z|x] = I − Wᵀ C⁻¹ W
        mean = (model.W.T @ torch.linalg.solve(C, (x.flatten(1) - model.mu).T)).T
        cov = torch.eye(Q, dtype=torch.float64) - model.W.T @ torch.linalg.solve(C, model.W)
        q_mean, q_cov = model.posterior(x)
        torch.testing.assert_close(q_mean, mean)
        torch.testing.assert_close(q_cov, cov)
        enc_mean, enc_var = model.encode(x)
        torch.testing.assert_close(enc_var, cov.diagonal().expand(5, Q))
        assert model.decode(enc_mean).shape == x.shape


def test_samples_have_the_model_covariance():
    model = PPCA(PPCAConfig(z_dim=Q), (1, 2, 4)).double().fit(toy_data())
    with torch.no_grad():
        x = model.sample(200_000, generator=torch.Generator().manual_seed(0)).flatten(1)
        C = covariance(model)
    torch.testing.assert_close(x.mean(0), model.mu.detach(), atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), C, atol=0.1, rtol=0.02)  # ~5 sd of the estimate at this n


def test_gradient_fit_through_the_trainer_approaches_the_closed_form():
    x = toy_data().float()
    with torch.no_grad():
        best = float(PPCA(PPCAConfig(z_dim=Q), (1, 2, 4)).fit(x).log_prob(x).mean())
    model = build_model(build_config({"model": {"name": "ppca", "z_dim": Q}}).model, (1, 2, 4))
    assert all(isinstance(model, P) for P in (LikelihoodBound, Encoder, Decoder, LatentPrior))
    cfg = TrainConfig(iterations=300, batch_size=len(x), lr=0.2, log_every=10**6, checkpoint_every=10**6)
    Trainer(model, Batcher({"x": x}, len(x), seed=0), cfg, None, quiet=True).fit()
    with torch.no_grad():
        assert float(model.log_prob(x).mean()) > best - 0.005  # nats per example (measured gap 5e-4)


def test_bad_latent_sizes_are_user_errors():
    with pytest.raises(UserError, match="z_dim"):
        PPCA(PPCAConfig(z_dim=8), (1, 2, 4))
    flat = torch.randn(50, 2, dtype=torch.float64) @ torch.randn(2, D, dtype=torch.float64)  # rank 2
    with pytest.raises(UserError, match="subspace"):
        ppca_ml(flat, 2)
