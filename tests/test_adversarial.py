"""The adversarial objectives against their formulas, the gradient penalty, and the optimal discriminators."""

import dataclasses
import math

import pytest
import torch

from latentlab.objectives import adversarial as adv


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_log_losses_equal_their_formulas_at_known_discriminator_outputs():
    d_real, d_fake = torch.tensor([0.8, 0.6]), torch.tensor([0.3, 0.1])
    real, fake = torch.logit(d_real), torch.logit(d_fake)
    v = (math.log(0.8) + math.log(0.6)) / 2 + (math.log(0.7) + math.log(0.9)) / 2
    assert adv.minimax_value(real, fake).item() == pytest.approx(v, abs=1e-6)
    assert adv.minimax_discriminator_loss(real, fake).item() == pytest.approx(-v, abs=1e-6)
    assert adv.minimax_generator_loss(fake).item() == pytest.approx((math.log(0.7) + math.log(0.9)) / 2, abs=1e-6)
    assert adv.nonsaturating_generator_loss(fake).item() == pytest.approx(-(math.log(0.3) + math.log(0.1)) / 2, abs=1e-6)


def test_log_losses_stay_finite_where_the_discriminator_saturates():
    real, fake = torch.tensor([200.0]), torch.tensor([-200.0])  # D = 1 and 0 in float32
    assert adv.minimax_discriminator_loss(real, fake).item() == pytest.approx(0.0, abs=1e-6)
    assert adv.nonsaturating_generator_loss(fake).item() == pytest.approx(200.0)
    assert adv.minimax_generator_loss(fake).item() == pytest.approx(0.0, abs=1e-6)


def test_least_squares_losses_equal_their_formulas():
    real, fake = torch.tensor([0.5, 1.5]), torch.tensor([0.2, -0.4])
    expected = 0.5 * ((0.5 - 1) ** 2 + (1.5 - 1) ** 2) / 2 + 0.5 * (0.2**2 + 0.4**2) / 2  # a = 0, b = 1
    assert adv.least_squares_discriminator_loss(real, fake).item() == pytest.approx(expected)
    expected = 0.5 * ((0.5 - 1) ** 2 + (1.5 - 1) ** 2) / 2 + 0.5 * (1.2**2 + 0.6**2) / 2  # a = -1, b = 1
    assert adv.least_squares_discriminator_loss(real, fake, a=-1.0, b=1.0).item() == pytest.approx(expected)
    assert adv.least_squares_generator_loss(fake).item() == pytest.approx(0.5 * (0.8**2 + 1.4**2) / 2)
    assert adv.least_squares_generator_loss(fake, c=0.0).item() == pytest.approx(0.5 * (0.2**2 + 0.4**2) / 2)


def test_wasserstein_losses_equal_their_formulas():
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([-1.0, 0.0])
    assert adv.wasserstein_critic_loss(real, fake).item() == pytest.approx(-0.5 - 3.0)
    assert adv.wasserstein_generator_loss(fake).item() == pytest.approx(0.5)


def test_the_table_is_at_one_scale_each_player_a_sum_of_expectations_with_weight_one():
    real, fake = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([-0.5, 0.8, 0.1])
    t, s = adv.Targets(a=-1.0, b=1.0, c=0.5), torch.sigmoid
    log_d = -torch.log(s(real)).mean() - torch.log(1 - s(fake)).mean()  # ℓ_real = -log σ, ℓ_fake = -log(1 - σ)
    wasserstein = (-real.mean() + fake.mean(), -fake.mean())
    expected = {  # (L_D, L_G) as the module docstring's table writes them
        "minimax": (log_d, torch.log(1 - s(fake)).mean()),
        "nonsaturating": (log_d, -torch.log(s(fake)).mean()),
        "least_squares": ((0.5 * (real - t.b) ** 2).mean() + (0.5 * (fake - t.a) ** 2).mean(),
                          (0.5 * (fake - t.c) ** 2).mean()),
        "wgan_clip": wasserstein,
        "wgan_gp": wasserstein,
    }
    assert list(adv.LOSSES) == list(expected)
    for name, (L_D, L_G) in adv.LOSSES.items():
        torch.testing.assert_close(L_D(real, fake, t), expected[name][0], msg=name)
        torch.testing.assert_close(L_G(fake, t), expected[name][1], msg=name)


def test_the_loss_field_names_the_table_with_its_default_first():
    from latentlab.models.cyclegan import CycleGANConfig
    from latentlab.models.gan import GANConfig

    def accepted(cls):
        return next(f for f in dataclasses.fields(cls) if f.name == "loss").metadata["accepts"].choices

    assert accepted(GANConfig) == ("nonsaturating", "minimax", "least_squares", "wgan_clip", "wgan_gp")
    assert accepted(CycleGANConfig) == ("least_squares", "minimax", "nonsaturating", "wgan_gp")  # no weight clipping


@pytest.mark.parametrize("shape", [(64, 2), (16, 1, 4, 3)])
def test_gradient_penalty_of_a_unit_norm_linear_critic_is_zero(shape):
    d = math.prod(shape[1:])
    w = torch.randn(d)
    w = w / w.norm()
    critic = lambda x: x.flatten(1) @ w + 0.3  # noqa: E731  ‖∇f‖ = ‖w‖ = 1 everywhere
    x_real, x_fake = torch.randn(shape), torch.randn(shape)
    assert adv.gradient_penalty(critic, x_real, x_fake).item() == pytest.approx(0.0, abs=1e-10)
    doubled = lambda x: 2 * critic(x)  # noqa: E731  ‖∇f‖ = 2: penalty (2 - 1)² = 1
    assert adv.gradient_penalty(doubled, x_real, x_fake).item() == pytest.approx(1.0, abs=1e-5)


def test_gradient_penalty_trains_the_critic():
    net = torch.nn.Linear(2, 1)
    gp = adv.gradient_penalty(lambda x: net(x).squeeze(-1), torch.randn(8, 2), torch.randn(8, 2))
    gp.backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0


# the optimal discriminator on a finite support: D is a free value per point, so the minimiser of each loss is
# its formula exactly (Goodfellow et al. 2014, Prop. 1; Mao et al. 2017, eq. 4)
P_DATA = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
P_G = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)


def _weighted_batches() -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the support points, repeated 10·p times: batch means are then expectations."""
    return (torch.repeat_interleave(torch.arange(4), (10 * P_DATA).round().long()),
            torch.repeat_interleave(torch.arange(4), (10 * P_G).round().long()))


def _minimise(loss_fn) -> torch.Tensor:
    table = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([table], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")
    real_idx, fake_idx = _weighted_batches()

    def closure():
        opt.zero_grad()
        loss = loss_fn(table[real_idx], table[fake_idx])
        loss.backward()
        return loss

    opt.step(closure)
    return table.detach()


def test_optimal_discriminator_of_the_log_loss_and_the_minimax_value():
    logits = _minimise(adv.minimax_discriminator_loss)
    torch.testing.assert_close(torch.sigmoid(logits), P_DATA / (P_DATA + P_G), atol=1e-6, rtol=0)
    real_idx, fake_idx = _weighted_batches()
    m = (P_DATA + P_G) / 2
    js = 0.5 * (P_DATA * (P_DATA / m).log()).sum() + 0.5 * (P_G * (P_G / m).log()).sum()
    value = adv.minimax_value(logits[real_idx], logits[fake_idx])
    assert value.item() == pytest.approx(2 * js.item() - math.log(4), abs=1e-9)
    assert adv.js_from_minimax_value(value) == pytest.approx(js.item(), abs=1e-9)


@pytest.mark.parametrize("a,b", [(0.0, 1.0), (-1.0, 1.0)])
def test_optimal_discriminator_of_the_squared_loss(a, b):
    d = _minimise(lambda r, f: adv.least_squares_discriminator_loss(r, f, a, b))
    torch.testing.assert_close(d, (b * P_DATA + a * P_G) / (P_DATA + P_G), atol=1e-6, rtol=0)
