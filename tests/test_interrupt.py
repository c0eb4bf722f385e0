"""Ctrl-C and SIGTERM during training: a checkpoint of the current step, exit 130 with the resume
command, and a resumed run that ends bit-identical to one that was never stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from latentlab.config import TrainConfig
from latentlab.data.batcher import Batcher
from latentlab.errors import Interrupted
from latentlab.models.vae import VAE, VAEConfig
from latentlab.run import Run
from latentlab.run.checkpoint import latest_checkpoint, load_checkpoint
from latentlab.training.trainer import Trainer

SRC = Path(__file__).resolve().parents[1] / "src"


class SignalAt(Batcher):
    """A batcher that sends this process `signum` when its `at`-th batch is taken (a user's Ctrl-C
    or a scheduler's SIGTERM arriving in the middle of an iteration)."""

    def __init__(self, at: int, signum: int, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.at, self.signum, self.taken = at, signum, 0

    def next(self):
        self.taken += 1
        if self.taken == self.at:
            os.kill(os.getpid(), self.signum)
        return super().next()


def _trainer(run_dir, iterations, batcher=None):
    torch.manual_seed(0)
    model = VAE(VAEConfig(z_dim=2), (1, 4, 4))
    data = {"x": torch.rand(64, 1, 4, 4, generator=torch.Generator().manual_seed(1))}
    batcher = batcher or Batcher(data, 8, seed=0, binarization="dynamic")
    cfg = TrainConfig(iterations=iterations, log_every=4, checkpoint_every=10, grad_clip=5.0)
    return Trainer(model, batcher, cfg, Run(run_dir), quiet=True), data


def _records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in lines]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_checkpoints_the_current_step_and_resume_is_bit_identical(tmp_path, signum):
    whole, data = _trainer(tmp_path / "whole", 20)
    whole.fit()
    before = signal.getsignal(signal.SIGINT)  # Python's default_int_handler; SIG_IGN under a shell's background job

    t, _ = _trainer(tmp_path / "cut", 20, SignalAt(7, signum, data, 8, seed=0, binarization="dynamic"))
    with pytest.raises(Interrupted) as e:
        t.fit()
    name = signal.Signals(signum).name
    assert str(e.value) == (f"{name} stopped training at step 7 of 20; checkpoint "
                            f"{tmp_path / 'cut' / 'checkpoints' / 'step-00000007'} written; "
                            f"continue with: latentlab train --resume {tmp_path / 'cut'}")
    assert e.value.exit_status == 130
    step, _ = load_checkpoint(latest_checkpoint(tmp_path / "cut" / "checkpoints"))
    assert step == 7
    assert signal.getsignal(signal.SIGINT) is before  # the handlers are given back

    torch.manual_seed(321)  # another process state: the resumed run must not depend on it
    again, _ = _trainer(tmp_path / "cut", 20)
    assert again.resume() and again.step == 7
    again.fit()
    for (key, p), q in zip(whole.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(p, q), key
    for phase, opt in whole.optimizers.items():
        a, b = opt.state_dict()["state"], again.optimizers[phase].state_dict()["state"]
        assert all(torch.equal(a[i][k], b[i][k]) for i in a for k in a[i])
    # the log window of the stopped iteration travels in the checkpoint: the same records, to the bit
    assert _records(tmp_path / "cut") == _records(tmp_path / "whole")


def test_sigterm_to_the_cli_exits_130_with_the_resume_command(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "latentlab.cli", "train", "gan_8gaussians", "--out", str(run), "--quiet",
           "--no-eval", "--set", "train.iterations=1000000", "--set", "train.checkpoint_every=50"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not list((run / "checkpoints").glob("step-*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)  # in training once the first checkpoint exists
    before = {p: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("latentlab train: SIGTERM stopped training at step ")
    assert lines[0].endswith(f"; continue with: latentlab train --resume {run}")
    step = int(lines[0].split("at step ")[1].split()[0])
    step_json = run / "checkpoints" / f"step-{step:08d}.json"
    assert step_json.exists() and load_checkpoint(step_json)[0] == step
    assert all(p.read_bytes() == content for p, content in before.items())  # earlier checkpoints untouched
