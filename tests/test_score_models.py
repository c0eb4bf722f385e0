"""NCSN and DDPM against their mathematics: DSM learns a Gaussian's score, the DDPM forward and
posterior match their closed forms, and both samplers recover a mixture from its exact score."""

import math

import pytest
import torch

from latentlab.data import toy2d
from latentlab.evaluation.sample_metrics import mmd2, mode_stats
from latentlab.models.base import NoiseConditionalScore
from latentlab.models.ddpm import DDPM, DDPMConfig
from latentlab.models.ncsn import NCSN, NCSNConfig
from latentlab.objectives.score_matching import denoising_score_matching
from latentlab.registry import build_config, build_model
from latentlab.sampling import ancestral_sample, annealed_langevin, beta_schedule
from latentlab.studies.base import study_threads


@pytest.mark.parametrize("name", ["ncsn", "ddpm"])
def test_every_score_model_trains_with_finite_loss_and_gradients(name):
    fast = {"ncsn": {"num_sigmas": 4, "steps_each": 3}, "ddpm": {"timesteps": 20}}[name]
    model = build_model(build_config({"model": {"name": name, "hidden": 16, "blocks": 2, "x_freqs": 2, **fast}}).model, (2,))
    terms = model.loss({"x": torch.randn(7, 2)}, "model")
    assert all(torch.isfinite(v) and v.dim() == 0 for v in terms.values())
    terms["loss"].backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert isinstance(model, NoiseConditionalScore)
    with torch.no_grad():
        a = model.sample(3, generator=torch.Generator().manual_seed(1))
        b = model.sample(3, generator=torch.Generator().manual_seed(1))
        assert a.shape == (3, 2) and torch.equal(a, b)  # the generator is the only randomness
        path = model.sample_trajectory(4)
    assert path.shape[1:] == (4, 2) and path.shape[0] > 2


def test_dsm_objective_is_half_the_squared_error_of_sigma_times_score_plus_eps():
    x, eps, sigma = torch.randn(5, 2), torch.randn(5, 2), torch.rand(5) + 0.1
    score = torch.randn(5, 2)
    x_tilde = x + sigma[:, None] * eps
    expected = 0.5 * (sigma[:, None] * score + eps).pow(2).sum(-1).mean()  # λ(σ) = σ² (Song & Ermon 2019, eq. 6)
    torch.testing.assert_close(denoising_score_matching(score, x_tilde, x, sigma), expected)


def test_dsm_on_gaussian_data_learns_its_score():
    """x ~ N(μ, s²I): p_σ = N(μ, (s² + σ²)I), whose score is -(x - μ)/(s² + σ²)."""
    mu, s = torch.tensor([0.5, -0.3]), 0.6
    model = NCSN(NCSNConfig(hidden=64, blocks=2, num_sigmas=10), (2,))
    steps = 400
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / steps)
    with study_threads():  # 400 small steps: a second OpenMP thread on a busy 2-core machine costs 5x
        for _ in range(steps):
            loss = model.loss({"x": mu + s * torch.randn(512, 2)}, "model")["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            decay.step()
    with torch.no_grad():
        for level, sigma in enumerate(model.sigmas.tolist()):
            var = s**2 + sigma**2
            x = mu + math.sqrt(var) * torch.randn(4000, 2)
            exact, learned = -(x - mu) / var, model.smoothed_score(x, level)
            # DSM fits σ·s_θ against -ε (RMS norm √2): its error must be small at every level;
            # measured 0.015-0.04 (seeded); tolerance 0.08 ≈ 6 % of ‖ε‖
            assert (sigma * (learned - exact)).pow(2).sum(-1).mean().sqrt() < 0.08, sigma
            if sigma >= 0.2:  # where the score is not drowned by the ε/σ target noise: relative error
                relative = ((learned - exact).pow(2).sum() / exact.pow(2).sum()).sqrt()
                assert relative < 0.15, (sigma, relative)  # measured ≤ 0.09


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddpm_forward_marginal_keeps_unit_variance_and_equals_the_chain(schedule):
    model = DDPM(DDPMConfig(schedule=schedule, timesteps=100, hidden=8, blocks=1), (2,))
    x0 = torch.randn(200_000, 2)
    for step in (0, 10, 50, 99):
        t = torch.full((len(x0),), step)
        x_t = model.q_sample(x0, t, torch.randn_like(x0))
        torch.testing.assert_close(x_t.var(0), torch.ones(2), atol=0.015, rtol=0)  # ᾱ + (1 - ᾱ) = 1
    # q(x_t | x_0) is the t-fold composition of q(x_s | x_{s-1}) = N(√(1-β_s) x_{s-1}, β_s I) (eq. 2)
    start = torch.tensor([[1.5, -0.5]]).expand(200_000, 2)
    x = start
    for step in range(60):
        beta = model.betas[step]
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn_like(x)
    a = model.alpha_bar[59]
    torch.testing.assert_close(x.mean(0), a.sqrt() * start[0], atol=0.01, rtol=0)
    torch.testing.assert_close(x.var(0), (1 - a).expand(2), atol=0.01, rtol=0)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddpm_posterior_matches_the_gaussian_conjugate_closed_form(schedule):
    T = 1000
    model = DDPM(DDPMConfig(schedule=schedule, timesteps=T, hidden=8, blocks=1), (2,))
    betas = beta_schedule(schedule, T)  # float64
    alpha_bar = torch.cumprod(1 - betas, 0)
    # q(x_{t-1} | x_t, x_0) ∝ N(x_t; √α_t x_{t-1}, β_t) N(x_{t-1}; √ᾱ_{t-1} x_0, 1 - ᾱ_{t-1}): precisions add
    t = torch.arange(1, T)
    prec = (1 - betas[t]) / betas[t] + 1 / (1 - alpha_bar[t - 1])
    var = 1 / prec
    coef_x0 = var * alpha_bar[t - 1].sqrt() / (1 - alpha_bar[t - 1])
    coef_xt = var * (1 - betas[t]).sqrt() / betas[t]
    torch.testing.assert_close(model.posterior_variance[t], var.float(), rtol=1e-5, atol=1e-10)
    torch.testing.assert_close(model.posterior_mean_coef1[t], coef_x0.float(), rtol=1e-5, atol=1e-10)
    torch.testing.assert_close(model.posterior_mean_coef2[t], coef_xt.float(), rtol=1e-5, atol=1e-10)
    x0, x_t, tt = torch.randn(4, 2), torch.randn(4, 2), torch.tensor([1, 10, 500, 999])
    mean, post_var = model.schedule.q_posterior(x0, x_t, tt)
    expected = coef_x0[tt - 1].float()[:, None] * x0 + coef_xt[tt - 1].float()[:, None] * x_t
    torch.testing.assert_close(mean, expected, rtol=1e-5, atol=1e-6)
    # the constants are computed in float64 and only stored in float32
    assert model.alpha_bar.dtype == torch.float32 and torch.equal(model.alpha_bar, alpha_bar.float())


def _exact_eps(model: DDPM, mixture: toy2d.GaussianMixture):
    """ε*(x_t, t) = -√(1-ᾱ_t) ∇log p_t(x_t), p_t the law of √ᾱ_t x_0 + √(1-ᾱ_t) ε, x_0 ~ mixture."""
    def eps_hat(x_t, t):
        step = int(t[0])
        a, b = float(model.sqrt_alpha_bar[step]), float(model.sqrt_one_minus_alpha_bar[step])
        return -b * mixture.perturbed(b, scale=a).score(x_t)
    return eps_hat


def test_ddpm_ancestral_sampling_with_the_exact_noise_recovers_a_mixture():
    mixture = toy2d.mixture("25gaussians")
    model = DDPM(DDPMConfig(timesteps=200, hidden=8, blocks=1), (2,))
    model.eps_hat = _exact_eps(model, mixture)
    x = ancestral_sample(model.eps_hat, model.schedule, torch.randn(2000, 2, generator=torch.Generator().manual_seed(0)),
                         generator=torch.Generator().manual_seed(1))
    stats = mode_stats(x, mixture)
    assert stats["modes_covered"] == 25 and stats["within_3sigma"] > 0.95  # a real draw: 0.989
    # DDPM's score in the VE coordinates is the exact smoothed score: √ᾱ_t ∇log p_t(√ᾱ_t x)
    for step in (3, 60):
        y = torch.randn(50, 2)
        sigma = float(model.sigmas[step])
        torch.testing.assert_close(model.smoothed_score(y, step), mixture.perturbed(sigma).score(y),
                                   rtol=1e-3, atol=1e-3)


def test_annealed_langevin_with_the_exact_score_recovers_a_mixture():
    mixture = toy2d.mixture("8gaussians")
    sigmas = torch.logspace(0, -2, 16)
    g = torch.Generator().manual_seed(0)
    x = annealed_langevin(lambda x, i: mixture.perturbed(float(sigmas[i])).score(x), sigmas,
                          math.sqrt(2) * torch.randn(1000, 2, generator=g), steps_each=30, step_lr=1e-4,
                          generator=g)
    stats = mode_stats(x, mixture)
    assert stats["modes_covered"] == 8 and stats["within_3sigma"] > 0.95
    real_a, real_b = (mixture.sample(1000, g) for _ in range(2))
    # MMD² of the samples within 2× the real-vs-real value at the same size (measured ≈ 1×)
    assert mmd2(x, real_a) < 2 * mmd2(real_b, real_a)
    _, path = annealed_langevin(lambda x, i: mixture.perturbed(float(sigmas[i])).score(x), sigmas,
                                torch.randn(3, 2), steps_each=2, step_lr=1e-4, return_trajectory=True)
    assert path.shape == (16 * 2 + 2, 3, 2)  # start, every step, the denoised end
