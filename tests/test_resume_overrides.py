"""`train --resume RUN --set ...`: rates, schedule, iterations and logging are applied to the restored
run and recorded with their step; what the checkpoint was built from is refused with one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from latentlab import cli
from latentlab.run.checkpoint import load_checkpoint

TRAIN = ["--quiet", "--no-eval", "--set", "train.checkpoint_every=10", "--set", "train.log_every=5"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("resume") / "run"
    assert cli.main(["train", "gan_8gaussians", "--out", str(run), "--set", "train.iterations=20", *TRAIN]) == 0
    return run


def _files(run: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_a_new_learning_rate_reaches_the_restored_optimizers_and_is_recorded(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    toml_before = (run / "config.toml").read_text()
    assert cli.main(["train", "--resume", str(run), *TRAIN, "--set", "train.iterations=30",
                     "--set", "train.lr=0.0005"]) == 0
    _, state = load_checkpoint(run / "checkpoints" / "step-00000030.json")
    for phase, opt in state["optimizers"].items():  # the rate the optimizers stepped at after step 20
        assert [g["lr"] for g in opt["param_groups"]] == [0.0005], phase
    _, old = load_checkpoint(run / "checkpoints" / "step-00000020.json")
    assert all(g["lr"] == 2e-4 for opt in old["optimizers"].values() for g in opt["param_groups"])
    text = (run / "config.toml").read_text()
    first, rest = text.split("\n", 1)
    assert first == "# resumed at step 20 with train.iterations = 30 (was 20), train.lr = 0.0005 (was 0.0002)"
    assert rest == toml_before.replace("iterations = 20", "iterations = 30").replace("lr = 0.0002", "lr = 0.0005")
    # a second resume keeps the first line and adds its own
    assert cli.main(["train", "--resume", str(run), *TRAIN, "--set", "train.iterations=40"]) == 0
    lines = (run / "config.toml").read_text().splitlines()
    assert lines[:2] == [first, "# resumed at step 30 with train.iterations = 40 (was 30)"]


@pytest.mark.parametrize("override, shown", [
    ("model.hidden=64", "model.hidden (128 -> 64)"),
    ('data.name="moons"', 'data.name ("8gaussians" -> "moons")'),
    ("train.batch_size=32", "train.batch_size (256 -> 32)"),
    ("train.seed=1", "train.seed (0 -> 1)"),
])
def test_what_the_checkpoint_was_built_from_cannot_change(trained, tmp_path, capsys, override, shown):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = _files(run)
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(run), *TRAIN, "--set", override]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"latentlab train: error: --resume cannot change {shown}: the checkpoints of {run} "
                          "were trained with the old value; train a new run with --out instead"), err
    assert "\n" not in err
    assert _files(run) == before


def test_iterations_below_the_reached_step_are_refused(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = _files(run)
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(run), *TRAIN, "--set", "train.iterations=10"]) == 2
    assert capsys.readouterr().err.strip() == (f"latentlab train: error: train.iterations = 10 is below step 20, "
                                               f"where {run} already is; give at least 20")
    assert _files(run) == before
    assert json.loads((run / "run.json").read_text())["format"] == 1
