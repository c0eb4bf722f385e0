"""The scalar VAE of "feel your ELBO": quadrature against closed forms, gap = KL, and the study itself."""

import json
import math

import pytest
import torch

from latentlab.models.scalar_vae import DECODERS, ScalarVAE, ScalarVAEConfig, elbo, kl_to_posterior, log_px, q_params
from latentlab.probability import LOG_2PI, kl_normal
from latentlab.studies import elbo_1d

SIGMA = 0.5


pytestmark = pytest.mark.usefixtures("one_thread")


def data(decoder: str, theta: float = 1.5, n: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    z, eps = torch.randn(2, n, generator=g, dtype=torch.float64)
    return theta * DECODERS[decoder](z) + SIGMA * eps


def exact_posterior(x: torch.Tensor, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """p(z|x) of the linear model: N(θx/(θ² + σ²), σ²/(θ² + σ²))."""
    return theta * x / (theta**2 + SIGMA**2), torch.full_like(x, SIGMA**2 / (theta**2 + SIGMA**2))


@pytest.mark.parametrize("theta", [0.05, 0.7, 1.5, 3.5])
def test_quadrature_log_px_is_the_closed_form(theta):
    x = data("linear")
    var = theta**2 + SIGMA**2
    closed = -0.5 * (LOG_2PI + math.log(var) + x**2 / var)  # x ~ N(0, θ² + σ²)
    torch.testing.assert_close(log_px(x, theta, "linear", SIGMA), closed, rtol=0, atol=1e-10)


@pytest.mark.parametrize("decoder", ["linear", "tanh", "square"])
@pytest.mark.parametrize("theta,phi", [(0.4, 2.5), (1.2, 0.7), (2.0, 2.0), (3.0, 1.0)])
def test_gap_is_the_kl_to_the_true_posterior(decoder, theta, phi):
    x = data(decoder)
    gap = log_px(x, theta, decoder, SIGMA) - elbo(x, theta, phi, decoder, SIGMA)
    kl = kl_to_posterior(x, theta, phi, decoder, SIGMA)
    assert bool((gap > -1e-10).all()), "the ELBO is a lower bound"
    torch.testing.assert_close(gap, kl, rtol=1e-8, atol=1e-8)
    if decoder == "linear":  # both Gaussians: the closed-form KL
        q_mean, q_var = q_params(x, phi, SIGMA)
        p_mean, p_var = exact_posterior(x, theta)
        closed = kl_normal(q_mean[:, None], q_var[:, None], p_mean[:, None], p_var[:, None])
        torch.testing.assert_close(gap, closed, rtol=1e-8, atol=1e-10)


def test_elbo_touches_log_px_exactly_when_q_is_the_posterior():
    x = data("linear")
    thetas = torch.linspace(0.2, 3.0, 15, dtype=torch.float64)
    for theta in thetas.tolist():
        q_mean, q_var = q_params(x, theta, SIGMA)  # φ = θ
        p_mean, p_var = exact_posterior(x, theta)
        torch.testing.assert_close(q_mean, p_mean)
        torch.testing.assert_close(q_var, p_var)
        gaps = (log_px(x, theta, "linear", SIGMA) - elbo(x, theta, thetas, "linear", SIGMA)).mean(-1)  # over φ
        assert abs(float(gaps[thetas == theta][0])) < 1e-10
        assert bool((gaps[thetas != theta] > 1e-4).all()), "any other φ leaves a gap"


@pytest.mark.parametrize("decoder", ["linear", "square"])
def test_quadrature_elbo_matches_monte_carlo(decoder):
    x, theta, phi = data(decoder, n=5), 1.3, 0.9
    q_mean, q_var = q_params(x, phi, SIGMA)
    g = torch.Generator().manual_seed(1)
    z = q_mean + q_var.sqrt() * torch.randn(200_000, len(x), generator=g, dtype=torch.float64)  # (S, N)
    residual = x - theta * DECODERS[decoder](z)
    log_p = -0.5 * (LOG_2PI + z**2) - 0.5 * (LOG_2PI + 2 * math.log(SIGMA) + residual**2 / SIGMA**2)
    log_q = -0.5 * (LOG_2PI + q_var.log() + (z - q_mean) ** 2 / q_var)
    w = log_p - log_q
    se = w.std(0) / math.sqrt(len(w))
    assert bool(((w.mean(0) - elbo(x, theta, phi, decoder, SIGMA)).abs() < 5 * se + 1e-9).all())


def test_elbo_ascent_on_the_linear_model_ends_at_the_ml_theta_with_an_exact_q():
    model = ScalarVAE(ScalarVAEConfig(decoder="linear", sigma=SIGMA))
    x = model.sample(200, generator=torch.Generator().manual_seed(3)).flatten()
    theta_ml = math.sqrt(float((x**2).mean()) - SIGMA**2)  # argmax of Σ log N(x; 0, θ² + σ²)
    theta, phi = elbo_1d.ascend(x, "linear", 400, lr=0.05)[-1].tolist()
    assert abs(theta - theta_ml) < 5e-3 and abs(phi - theta) < 5e-3, (theta, phi, theta_ml)


def test_study_quick(tmp_path):
    report = elbo_1d.run(tmp_path, "quick", quiet=True)
    assert report.exists() and report.stat().st_size > 50_000  # figures are embedded
    s = json.loads((tmp_path / "summary.json").read_text())["variants"]
    assert s["linear"]["max_best_gap"] < 1e-3 and s["linear"]["max_closed_form_error"] < 1e-8
    assert s["square"]["min_best_gap"] > 0.1  # two posterior modes: no Gaussian q closes the gap
    assert s["tanh"]["min_best_gap"] > 1e-6 and s["tanh"]["max_best_gap"] > 0.01
    assert all(v["max_gap_kl_error"] < 1e-6 for v in s.values())
    names = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert names == [f"elbo_{d}.png" for d in ("linear", "square", "tanh")]
