"""The noise schedule, the DDPM and DDIM samplers against their equations; the U-Net DDPM on images (grey,
colour, odd sizes, class-conditional with guidance); the clipped x̂_0 that keeps a short 2-D run bounded;
exact resume; the one-line refusals."""

import dataclasses
import math

import pytest
import torch

from latentlab.cli import main
from latentlab.config import ConfigError, TrainConfig
from latentlab.data.batcher import Batcher
from latentlab.errors import UserError
from latentlab.models.ddpm import DDPM, DDPMConfig
from latentlab.registry import build_config, build_model, load_config
from latentlab.run import Run
from latentlab.sampling import NoiseSchedule, ancestral_sample, beta_schedule, ddim_sample, ddim_sigma, ddim_timesteps
from latentlab.training.ema import ema_start, ema_update
from latentlab.training.trainer import Trainer

TINY_UNET = {"net": "unet", "channels": 8, "channel_mult": [1, 2], "res_blocks": 1, "timesteps": 10}


# ----------------------------------------------------------------------------- the schedule


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_schedule_constants_equal_their_closed_forms(name):
    T = 200
    s = NoiseSchedule.build(name, T)
    betas = beta_schedule(name, T)  # float64
    # every constant from its float64 closed form, rounded once to float32 (a float32 chain would lose
    # 1 - ᾱ_t at small t)
    a = torch.tensor([math.prod(1 - b for b in betas[: t + 1].tolist()) for t in range(T)], dtype=torch.float64)
    a_prev = torch.cat([torch.ones(1, dtype=torch.float64), a[:-1]])  # ᾱ_0 = 1
    closed = {"alpha_bar": a, "alpha_bar_prev": a_prev, "sqrt_alpha_bar": a.sqrt(), "sqrt_one_minus_alpha_bar": (1 - a).sqrt(),
              "posterior_variance": betas * (1 - a_prev) / (1 - a),  # β̃_t, eq. 7
              "posterior_mean_coef1": betas * a_prev.sqrt() / (1 - a), "posterior_mean_coef2": (1 - a_prev) * (1 - betas).sqrt() / (1 - a),
              "sigmas": ((1 - a) / a).sqrt()}
    for key, value in closed.items():
        torch.testing.assert_close(getattr(s, key), value.float(), rtol=2e-6, atol=1e-30, msg=key)
    if name == "cosine":  # ᾱ_t = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2) where β is not clipped (Nichol & Dhariwal, eq. 17)
        f = [math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2 for t in range(T + 1)]
        torch.testing.assert_close(a[:-1], torch.tensor(f[1:T], dtype=torch.float64) / f[0], rtol=1e-5, atol=1e-9)
        assert float(betas.max()) == 0.999  # the last β clipped as Nichol & Dhariwal clip it
    else:  # linear from 1e-4 to 0.02 at T = 1000, scaled by 1000/T
        assert math.isclose(float(s.betas[0]), 5e-4, rel_tol=1e-6) and math.isclose(float(s.betas[-1]), 0.1, rel_tol=1e-6)
    assert all(v.dtype == torch.float32 and v.shape == (T,) for v in s.tensors().values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.betas = s.betas * 2


def test_the_model_holds_the_schedule_as_buffers():
    model = DDPM(DDPMConfig(timesteps=50, schedule="cosine", hidden=8, blocks=1), (2,))
    built = NoiseSchedule.build("cosine", 50)
    for name, value in model.schedule.tensors().items():
        assert torch.equal(value, getattr(built, name)) and name in dict(model.named_buffers()), name


# ----------------------------------------------------------------------------- DDIM


def test_ddim_with_eta_1_over_every_step_has_the_ancestral_posterior_variance():
    """Song et al. 2021, eq. 16: σ_t(η = 1)² = (1 - ᾱ_{t-1})/(1 - ᾱ_t) · (1 - ᾱ_t/ᾱ_{t-1}) = β̃_t."""
    betas = beta_schedule("linear", 1000)  # float64: the identity itself, without float32's rounding of 1 - ᾱ
    a = torch.cumprod(1 - betas, 0).tolist()
    sigma2 = torch.tensor([ddim_sigma(a[t], a[t - 1], 1.0) ** 2 for t in range(1, 1000)], dtype=torch.float64)
    beta_tilde = torch.tensor([betas[t] * (1 - a[t - 1]) / (1 - a[t]) for t in range(1, 1000)], dtype=torch.float64)
    torch.testing.assert_close(sigma2, beta_tilde, rtol=1e-9, atol=0)
    # and the sampler's own σ, from the float32 ᾱ it keeps, against the stored β̃ (1 - ᾱ_t/ᾱ_{t-1} rounds to ~1e-4)
    s = NoiseSchedule.build("linear", 1000)
    a32 = s.alpha_bar.double().tolist()
    sigma2 = torch.tensor([ddim_sigma(a32[t], a32[t - 1], 1.0) ** 2 for t in range(1, 1000)], dtype=torch.float64)
    torch.testing.assert_close(sigma2, s.posterior_variance[1:].double(), rtol=5e-4, atol=0)
    assert ddim_sigma(a[0], 1.0, 1.0) == 0  # the last step lands on x_0 without noise, as Algorithm 2's
    assert ddim_timesteps(1000, 1000) == list(range(999, -1, -1))


def test_ddim_eta_0_is_deterministic_given_x_T_and_eta_1_is_not():
    s = NoiseSchedule.build("cosine", 40)
    eps_fn = lambda x, t: 0.3 * x  # noqa: E731 - any fixed ε_θ
    x_T = torch.randn(5, 3)
    runs = [ddim_sample(eps_fn, s, x_T, steps=8, eta=0.0, generator=torch.Generator().manual_seed(k)) for k in (1, 2)]
    assert torch.equal(*runs)
    noisy = [ddim_sample(eps_fn, s, x_T, steps=8, eta=1.0, generator=torch.Generator().manual_seed(k)) for k in (1, 2)]
    assert not torch.equal(*noisy)
    _, path = ddim_sample(eps_fn, s, x_T, steps=8, return_trajectory=True)
    assert path.shape == (9, 5, 3) and torch.equal(path[0], x_T)


@pytest.mark.parametrize("spacing", ["uniform", "quadratic"])
def test_ddim_step_spacing_runs_from_T_minus_1_to_0_strictly_decreasing(spacing):
    for T in (1, 2, 7, 50, 1000):
        for steps in (range(1, T + 1) if T < 100 else (1, 2, 3, 10, 50, 333, 500, 999, 1000)):
            tau = ddim_timesteps(T, steps, spacing)
            assert len(tau) == steps and tau[0] == T - 1 and (steps == 1 or tau[-1] == 0), (T, steps, tau)
            assert all(a > b for a, b in zip(tau, tau[1:])), (T, steps, tau)
    if spacing == "quadratic":  # denser near t = 0 than near T
        tau = ddim_timesteps(1000, 20, spacing)
        assert tau[-2] - tau[-1] < tau[0] - tau[1]
    with pytest.raises(ValueError):
        ddim_timesteps(10, 11, spacing)


# ----------------------------------------------------------------------------- the U-Net DDPM on images


def tiny_unet(x_shape, **extra) -> DDPM:
    return build_model(build_config({"model": {"name": "ddpm", **TINY_UNET, **extra}}).model, x_shape)


@pytest.mark.parametrize("x_shape", [(1, 12, 10), (3, 16, 16)])
@pytest.mark.parametrize("conditional", [False, True])
def test_a_tiny_unet_ddpm_trains_and_samples_images(x_shape, conditional):
    torch.manual_seed(0)
    model = tiny_unet(x_shape, conditional=conditional, label_dropout=0.5)
    batch = {"x": torch.rand(6, *x_shape), "y": torch.tensor([0, 1, 2, 3, 4, 5])}
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(3):
        terms = model.loss(batch, "model")
        assert all(torch.isfinite(v) and v.dim() == 0 for v in terms.values())
        opt.zero_grad()
        terms["loss"].backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        opt.step()
    assert model.batch_keys == (("x", "y") if conditional else ("x",))
    with torch.no_grad():
        x = model.sample(3, generator=torch.Generator().manual_seed(0))
        assert x.shape == (3, *x_shape) and 0 <= float(x.min()) and float(x.max()) <= 1  # x̂_0 clipped to [0, 1]
        model.config = dataclasses.replace(model.config, sampler="ddim", ddim_steps=4)
        assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, *x_shape)
        assert model.sample_trajectory(2).shape == (5, 2, *x_shape)


def test_guidance_w_0_is_the_conditional_model_and_w_mixes_with_the_null_class():
    torch.manual_seed(0)
    model = tiny_unet((1, 8, 8), conditional=True)
    x, t, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 3, 5, 9]), torch.tensor([1, 0, 7, 9])
    null = torch.full_like(y, 10)
    with torch.no_grad():
        eps_y, eps_null = model.eps_hat(x, t, y), model.eps_hat(x, t, null)
        torch.testing.assert_close(model.guided_eps(y, 0.0)(x, t), eps_y, rtol=0, atol=0)
        w = 2.5  # ε̃ = (1 + w) ε(x, y) - w ε(x, ∅), Ho & Salimans 2022, eq. 6
        torch.testing.assert_close(model.guided_eps(y, w)(x, t), (1 + w) * eps_y - w * eps_null, rtol=1e-5, atol=1e-5)
        x_T = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(3))
        direct = ancestral_sample(lambda x, t: model.eps_hat(x, t, y), model.schedule, x_T, clip=(-1.0, 1.0),
                                  generator=torch.Generator().manual_seed(4))
        g = torch.Generator().manual_seed(3)
        via_model = model.sample(4, y=y, w=0.0, generator=g)  # x_T from g first, then the same g samples
        g2 = torch.Generator().manual_seed(3)
        x_T2 = torch.randn(4, 1, 8, 8, generator=g2)
        again = ancestral_sample(lambda x, t: model.eps_hat(x, t, y), model.schedule, x_T2, clip=(-1.0, 1.0),
                                 generator=g2)
    assert torch.equal(via_model, model.to_data(again)) and direct.shape == via_model.shape


def make_trainer(run_dir, iterations, conditional):
    torch.manual_seed(0)
    model = tiny_unet((1, 6, 6), conditional=conditional, channels=4)
    stream = Batcher({"x": torch.rand(32, 1, 6, 6), "y": torch.arange(32) % 10}, 4, seed=0, binarization="none")
    cfg = TrainConfig(iterations=iterations, log_every=3, checkpoint_every=4, ema=0.9)
    return Trainer(model, stream, cfg, Run(run_dir), quiet=True)


@pytest.mark.parametrize("conditional", [False, True])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, conditional):
    whole = make_trainer(tmp_path / "a", 8, conditional)
    whole.fit()
    first = make_trainer(tmp_path / "b", 4, conditional)
    first.fit()
    torch.manual_seed(123)  # a different process state: resume must not depend on it
    second = make_trainer(tmp_path / "b", 8, conditional)
    assert second.resume() and second.step == 4
    second.fit()
    for (name, p), q in zip(whole.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(p, q), name
    for name in whole.ema:
        assert torch.equal(whole.ema[name], second.ema[name]), name


# ----------------------------------------------------------------------------- points: the clipped x̂_0


def test_a_300_iteration_cosine_run_on_points_samples_within_the_data_box():
    """ddpm_8gaussians (T = 100, cosine: ᾱ_T = 2.4e-7) stopped early: 1/√ᾱ_T ≈ 2,000 amplifies the barely trained ε̂
    of its weight average (decay 0.999) into samples of sd ≈ 500 unless x̂_0 is clipped to the training data's box (here [-2, 2]², data sd 1)."""
    from latentlab.data import toy2d

    config, _ = load_config("ddpm_8gaussians")
    data = toy2d.load_toy2d("8gaussians", 5000, 10, 0).train_x
    torch.manual_seed(0)
    model = build_model(config.model, (2,))
    opt, ema = torch.optim.Adam(model.parameters(), config.train.lr), ema_start(model)
    for step in range(300):
        loss = model.loss({"x": data[torch.randint(len(data), (config.train.batch_size,))]}, "model")["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema_update(ema, model, config.train.ema)
    model.load_state_dict(ema, strict=False)  # sampled with the averaged weights, as the run is
    assert model.x_low.tolist() == [-2, -2] and model.x_high.tolist() == [2, 2]
    with torch.no_grad():
        x = model.sample(500, generator=torch.Generator().manual_seed(0))
        model.config = dataclasses.replace(model.config, clip_x0=False)
        unclipped = model.sample(500, generator=torch.Generator().manual_seed(0))
    assert float(x.abs().max()) <= 2 and float(x.std()) < 2  # inside the box; measured sd 1.44 (the data's: 1)
    assert float(unclipped.std()) > 20  # the fault the clip guards against: measured sd 562


def test_the_data_box_survives_the_weight_average_and_old_states_without_it():
    model = DDPM(DDPMConfig(timesteps=10, hidden=8, blocks=1), (2,))
    ema = ema_start(model)  # float tensors only: the integer box is not averaged
    model.loss({"x": torch.tensor([[-0.5, 3.2], [1.5, 0.0]])}, "model")
    assert model.x_low.tolist() == [-1, 0] and model.x_high.tolist() == [2, 4]
    model.load_state_dict(ema, strict=False)
    assert model.x_low.tolist() == [-1, 0]
    old = {k: v for k, v in model.state_dict().items() if k not in ("x_low", "x_high")}  # a run saved before the box
    fresh = DDPM(DDPMConfig(timesteps=10, hidden=8, blocks=1), (2,))
    fresh.load_state_dict(old)
    assert fresh.x0_range() is None  # no box: it samples as it did


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("model, key", [
    ({"sampler": "ddim", "timesteps": 20, "ddim_steps": 21}, "model.ddim_steps = 21"),
    ({"sampler": "ddim", "ddim_steps": 0}, "model.ddim_steps = 0"),
    ({"guidance": 1.0}, "model.guidance = 1.0"),
    ({"conditional": True}, "model.conditional = true"),
    ({"ddim_eta": 1.5}, "model.ddim_eta = 1.5"),
    ({"ddim_spacing": "cubic"}, "model.ddim_spacing = \"cubic\""),
])
def test_bad_sampling_settings_are_refused_in_one_line(model, key):
    with pytest.raises(ConfigError) as e:
        build_config({"model": {"name": "ddpm", **model}})
    assert str(e.value).startswith(key + " is not accepted") and "\n" not in str(e.value)


def test_a_unet_on_points_or_guidance_without_labels_is_refused_in_one_line(capsys, tmp_path):
    with pytest.raises(UserError, match=r"^model.net = \"unet\" is not accepted") as e:
        tiny_unet((5,))
    assert "\n" not in str(e.value)
    model = tiny_unet((1, 8, 8))
    for cond in ({"w": 1.0}, {"y": torch.zeros(2, dtype=torch.long)}):
        with pytest.raises(UserError, match="model.conditional = true"):
            model.sample(2, **cond)
    code = main(["train", "ddpm_8gaussians", "--set", "model.net=\"unet\"", "--set", "train.iterations=1",
                 "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "model.net = \"unet\"" in err and len(err.splitlines()) == 1


def test_labels_past_a_conditional_models_classes_are_refused_in_one_line(tmp_path):
    """A conditional DDPM reads y: labels 0..4 for model.n_classes = 3 stop before training, not in an IndexError."""
    import numpy as np

    import latentlab.api as api

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (20, 8, 8), dtype=np.uint8), np.arange(20) % 5
    with pytest.raises(UserError, match=r'^model.n_classes = 3 is not accepted: at least the 5 classes'):
        api.train("ddpm_8gaussians", data=(x, y), out=tmp_path / "run", quiet=True,
                  overrides=['model.net="unet"', "model.conditional=true", "model.n_classes=3", "model.channels=8",
                             'eval.protocol="none"', "train.batch_size=4", "train.iterations=1"])
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_images_diffuse_as_pixels_in_minus_one_to_one_and_come_back_in_zero_to_one():
    """Ho et al. 2020, §3.3: the chain runs on 2·pixel - 1; the loss sees that scale, samples return pixels."""
    model = tiny_unet((1, 8, 8))
    x = torch.rand(4, 1, 8, 8)
    torch.manual_seed(5)
    loss = model.loss({"x": x}, "model")["loss"]
    torch.manual_seed(5)
    t = torch.randint(model.num_timesteps, (4,))
    assert torch.equal(loss, model.p_losses(2 * x - 1, t, torch.randn_like(x)))
    assert model.x0_range() == (-1.0, 1.0)
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        path = model.sample_trajectory(3, generator=g)
        x0 = model.sample(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x0, (path[-1] + 1) / 2) and float(path[-1].min()) >= -1 and float(x0.min()) >= 0
