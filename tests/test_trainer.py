"""The trainer: works with any model of the contract, resumes exactly, stops on a NaN loss."""

import json

import pytest
import torch
from torch import nn

from latentlab.config import TrainConfig
from latentlab.data.batcher import Batcher
from latentlab.models.base import GenerativeModel
from latentlab.models.vae import VAE, VAEConfig
from latentlab.run import Run
from latentlab.run.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from latentlab.training.trainer import Diverged, Trainer


class FakeTwoPhaseModel(GenerativeModel):
    """Not a VAE, no config attribute: a critic/generator pair minimising toy quadratics."""

    phases = ("critic", "critic", "generator")

    def __init__(self, nan_at: int | None = None):
        super().__init__()
        self.c, self.g = nn.Parameter(torch.ones(3)), nn.Parameter(torch.zeros(3))
        self.calls, self.after, self.nan_at = 0, [], nan_at

    def parameter_groups(self):
        return {"critic": [self.c], "generator": [self.g]}

    def loss(self, batch, phase):
        self.calls += 1
        p = self.c if phase == "critic" else self.g
        loss = ((batch["x"].mean(0).flatten()[:3] - p) ** 2).sum()
        if self.nan_at is not None and self.calls >= self.nan_at:
            loss = loss * float("nan")
        return {"loss": loss, "sq": loss.detach()}

    def after_step(self, phase):
        self.after.append(phase)

    def sample(self, n, *, generator=None, **cond):
        return self.g.detach().expand(n, 3)


def batcher(seed=0):
    return Batcher({"x": torch.rand(64, 1, 4, 4)}, 8, seed=seed, binarization="dynamic")


def test_trainer_drives_any_model_through_the_contract(tmp_path):
    model = FakeTwoPhaseModel()
    cfg = TrainConfig(iterations=10, log_every=5, checkpoint_every=5)
    Trainer(model, batcher(), cfg, Run(tmp_path), quiet=True).fit()
    assert model.calls == 30 and model.after[:3] == ["critic", "critic", "generator"]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["phase"]) for r in records] == [(5, "critic"), (5, "generator"), (10, "critic"), (10, "generator")]
    assert set(records[0]) == {"step", "phase", "loss", "sq", "time"}
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step-00000010.json"


def make_vae_trainer(run_dir, iterations):
    torch.manual_seed(0)
    model = VAE(VAEConfig(z_dim=2), (1, 4, 4))
    cfg = TrainConfig(iterations=iterations, log_every=3, checkpoint_every=7, grad_clip=5.0)
    return Trainer(model, batcher(), cfg, Run(run_dir), quiet=True)


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    whole = make_vae_trainer(tmp_path / "a", 20)
    whole.fit()
    first = make_vae_trainer(tmp_path / "b", 10)  # stops at 10, checkpointed there
    first.fit()
    torch.manual_seed(123)  # a different process state: resume must not depend on it
    second = make_vae_trainer(tmp_path / "b", 20)
    assert second.resume() and second.step == 10
    second.fit()
    for (name, p), q in zip(whole.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(p, q), name
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [3, 6, 9, 10, 12, 15, 18, 20]


def test_resume_drops_metrics_logged_after_the_checkpoint(tmp_path):
    make_vae_trainer(tmp_path, 9).fit()  # checkpoints at 7 and 9
    (tmp_path / "checkpoints" / "step-00000009.json").unlink()  # as if it crashed before 9 was saved
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 9, "phase": "mo')  # a torn line
    t = make_vae_trainer(tmp_path, 9)
    assert t.resume() and t.step == 7
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [3, 6]


def test_a_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path):
    model = FakeTwoPhaseModel(nan_at=3 * 6 + 1)  # the first call of iteration 7
    t = Trainer(model, batcher(), TrainConfig(iterations=20, checkpoint_every=5), Run(tmp_path), quiet=True)
    with pytest.raises(Diverged, match=r"loss became nan at iteration 7 \(phase 'critic'\); the last good checkpoint is .*step-00000005"):
        t.fit()
    step, state = load_checkpoint(latest_checkpoint(tmp_path / "checkpoints"))
    assert step == 5 and torch.isfinite(state["model"]["c"]).all()


def test_checkpoint_round_trip_keeps_nested_state_and_int_keys(tmp_path):
    opt = torch.optim.Adam([nn.Parameter(torch.randn(2))])
    opt.param_groups[0]["params"][0].grad = torch.ones(2)
    opt.step()
    state = {"opt": opt.state_dict(), "rng": torch.get_rng_state(), "n": 3, "xs": [1.5, torch.arange(3)]}
    save_checkpoint(tmp_path, 42, state)
    step, back = load_checkpoint(tmp_path / "step-00000042.json")
    assert step == 42 and back["n"] == 3 and back["xs"][0] == 1.5 and torch.equal(back["xs"][1], torch.arange(3))
    assert torch.equal(back["rng"], state["rng"])
    assert set(back["opt"]["state"]) == {0}
    torch.optim.Adam([nn.Parameter(torch.randn(2))]).load_state_dict(back["opt"])
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_ema_tracks_the_average_and_survives_resume(tmp_path):
    torch.manual_seed(0)
    model = VAE(VAEConfig(z_dim=2), (1, 4, 4))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(iterations=1, ema=0.9, checkpoint_every=1)
    t = Trainer(model, batcher(), cfg, Run(tmp_path), quiet=True)
    t.fit()
    for k, v in model.state_dict().items():  # one step: ema = 0.9·θ0 + 0.1·θ1
        if v.is_floating_point():
            torch.testing.assert_close(t.ema[k], 0.9 * start[k] + 0.1 * v)
    t2 = Trainer(VAE(VAEConfig(z_dim=2), (1, 4, 4)), batcher(), cfg, Run(tmp_path), quiet=True)
    assert t2.resume() and all(torch.equal(t2.ema[k], t.ema[k]) for k in t.ema)


def test_lr_decays_linearly_to_zero_after_lr_decay_start():
    model = FakeTwoPhaseModel()
    cfg = TrainConfig(iterations=8, lr=0.1, phase_lr=("generator=0.2",), lr_decay_start=0.5, checkpoint_every=100)
    trainer = Trainer(model, batcher(), cfg, None, quiet=True)
    seen = []
    model.after_step = lambda phase: seen.append((phase, trainer.optimizers[phase].param_groups[0]["lr"]))
    trainer.fit()
    critic = [lr for phase, lr in seen if phase == "critic"][::2]  # two critic steps per iteration
    generator = [lr for phase, lr in seen if phase == "generator"]
    # constant for the first 4 of 8 iterations, then (T - t)/(T - 4) of the base: 4/4, 3/4, 2/4, 1/4
    assert critic == pytest.approx([0.1] * 5 + [0.075, 0.05, 0.025])
    assert generator == pytest.approx([0.2] * 5 + [0.15, 0.1, 0.05])


def test_a_run_resumed_mid_decay_matches_the_uninterrupted_one(tmp_path):
    import shutil

    def trainer(run_dir):
        torch.manual_seed(0)
        cfg = TrainConfig(iterations=20, log_every=5, checkpoint_every=7, lr_decay_start=0.25)
        return Trainer(VAE(VAEConfig(z_dim=2), (1, 4, 4)), batcher(), cfg, Run(run_dir), quiet=True)

    whole = trainer(tmp_path / "a")
    whole.fit()
    (tmp_path / "b" / "checkpoints").mkdir(parents=True)
    for suffix in (".json", ".safetensors"):  # keep only the step-14 checkpoint: lr is already decaying there
        shutil.copy(tmp_path / "a" / "checkpoints" / f"step-00000014{suffix}", tmp_path / "b" / "checkpoints")
    resumed = trainer(tmp_path / "b")
    assert resumed.resume() and resumed.step == 14
    resumed.fit()
    for (name, p), q in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_lr_decay_start_outside_0_1_is_a_user_error():
    from latentlab.errors import UserError

    with pytest.raises(UserError, match="lr_decay_start"):
        Trainer(FakeTwoPhaseModel(), batcher(), TrainConfig(lr_decay_start=1.5), None, quiet=True)
