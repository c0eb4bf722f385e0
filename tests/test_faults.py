"""Fault injection on a run directory: a damaged checkpoint costs one line (eval) or a fallback to the
newest intact one (train --resume), never a traceback, never a good file, and nothing is unpickled."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from latentlab import cli
from latentlab.run.checkpoint import load_checkpoint

SRC = Path(__file__).resolve().parents[1] / "src"
TRAIN = ["--quiet", "--no-eval", "--set", "train.checkpoint_every=10", "--set", "train.log_every=5",
         "--set", "eval.figures=false", "--set", "eval.n_samples=100"]


class Trap:
    """Unpickling this runs code: it creates the file `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("faults") / "run"
    assert cli.main(["train", "gan_8gaussians", "--out", str(run), "--set", "train.iterations=30", *TRAIN]) == 0
    return run


def _snapshot(run: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _damage(run: Path, fault: str) -> str:
    """Break the newest checkpoint (step 30) as `fault` says; returns what the line must say about it."""
    tensors, meta = run / "checkpoints" / "step-00000030.safetensors", run / "checkpoints" / "step-00000030.json"
    if fault == "truncated":
        tensors.write_bytes(tensors.read_bytes()[: tensors.stat().st_size // 2])
        return "step-00000030.safetensors is truncated or corrupt"
    if fault == "pickle":
        tensors.write_bytes(pickle.dumps({"model": Trap(run / "UNPICKLED")}, protocol=4))
        return "step-00000030.safetensors is a pickle (torch.save) file, not safetensors"
    if fault == "empty":
        tensors.write_bytes(b"")
        return "step-00000030.safetensors is empty"
    if fault == "missing":
        tensors.unlink()
        return "step-00000030.safetensors is missing"
    if fault == "json-truncated":
        meta.write_bytes(meta.read_bytes()[:100])
        return "step-00000030.json is truncated or corrupt"
    if fault == "foreign-pair":  # the JSON of another run beside these tensors
        meta.write_text('{"format": 1, "step": 30, "state": {"dict": {"model": {"tensor": "/nope"}}}}')
        return "its .json and .safetensors files do not belong together"
    raise ValueError(fault)


FAULTS = ["truncated", "pickle", "empty", "missing", "json-truncated", "foreign-pair"]


@pytest.mark.parametrize("fault", FAULTS)
def test_eval_of_a_damaged_checkpoint_is_one_line_naming_the_intact_one(trained, tmp_path, capsys, fault):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    why = _damage(run, fault)
    before = _snapshot(run)
    capsys.readouterr()
    assert cli.main(["eval", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    stem = run / "checkpoints" / "step-00000030"
    assert err == (f"latentlab eval: error: checkpoint {stem} is damaged ({why}"
                   + ("; it was not loaded: unpickling can run code" if fault == "pickle" else "")
                   + "); the newest intact one is step-00000020: delete step-00000030.json and "
                     "step-00000030.safetensors to use it (train --resume falls back to it by itself)")
    assert _snapshot(run) == before  # nothing written, nothing removed
    assert not (run / "UNPICKLED").exists()


@pytest.mark.parametrize("fault", FAULTS)
def test_resume_falls_back_to_the_newest_intact_checkpoint_and_ends_bit_identical(trained, tmp_path, capsys,
                                                                                  fault):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    reference = (trained / "checkpoints" / "step-00000030.safetensors").read_bytes()
    why = _damage(run, fault)
    older = {p: run.joinpath(p).read_bytes() for p in ("checkpoints/step-00000010.json",
                                                      "checkpoints/step-00000010.safetensors",
                                                      "checkpoints/step-00000020.safetensors")}
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(run), *TRAIN]) == 0
    err = capsys.readouterr().err.strip()
    assert err == (f"latentlab: checkpoint step-00000030 is damaged ({why}"
                   + ("; it was not loaded: unpickling can run code" if fault == "pickle" else "")
                   + "); resuming from step-00000020, the newest intact one")
    # the step-30 tensors written again equal those of the run that was never damaged, to the byte
    assert (run / "checkpoints" / "step-00000030.safetensors").read_bytes() == reference
    assert all(run.joinpath(p).read_bytes() == content for p, content in older.items())
    assert not (run / "UNPICKLED").exists()
    step, _ = load_checkpoint(run / "checkpoints" / "step-00000030.json")
    assert step == 30


def test_no_intact_checkpoint_is_one_line(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    for p in (run / "checkpoints").glob("*.safetensors"):
        p.write_bytes(torch.zeros(3).numpy().tobytes())
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(run), *TRAIN]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"latentlab train: error: no checkpoint in {run / 'checkpoints'} is intact (the newest: "
                   "step-00000030.safetensors is truncated or corrupt); train the run again")


def test_a_second_process_on_a_busy_run_is_refused_and_a_killed_owner_leaves_a_stale_lock(tmp_path, capsys):
    """While `train` runs, `eval` and `train --resume` on its directory are refused with one line and
    change nothing; after a kill -9 the lock is stale, and --resume takes it over and finishes."""
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    owner = subprocess.Popen([sys.executable, "-m", "latentlab.cli", "train", "gan_8gaussians", "--out", str(run),
                              "--set", "train.iterations=1000000", "--set", "train.checkpoint_every=50", *TRAIN[4:]],
                             env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not list((run / "checkpoints").glob("step-*.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        (run / "results.json").write_text("{}")  # a file that must survive the refused eval
        capsys.readouterr()
        for command in (["eval", str(run)], ["train", "--resume", str(run), *TRAIN]):
            before = (run / "results.json").read_bytes(), (run / "config.toml").read_bytes()
            assert cli.main(command) == 2
            err = capsys.readouterr().err.strip()
            assert err.startswith(f"latentlab {command[0]}: error: {run} is in use by `latentlab train` "
                                  f"(pid {owner.pid} on {socket.gethostname()}, since "), err
            assert err.endswith("; wait for it to finish or stop it, then run this again") and "\n" not in err
            assert ((run / "results.json").read_bytes(), (run / "config.toml").read_bytes()) == before
    finally:
        owner.kill()  # kill -9: no chance to remove its lock
        owner.wait()
    assert (run / "run.lock").exists()
    step = max(int(p.stem.split("-")[1]) for p in (run / "checkpoints").glob("step-*.json"))
    assert cli.main(["train", "--resume", str(run), *TRAIN, "--set", f"train.iterations={step + 10}"]) == 0
    err = capsys.readouterr().err.strip()
    assert err == f"latentlab: removing the stale lock {run / 'run.lock'} (process {owner.pid} on " \
                  f"{socket.gethostname()} no longer exists)"
    assert not (run / "run.lock").exists()
    assert load_checkpoint(run / "checkpoints" / f"step-{step + 10:08d}.json")[0] == step + 10


READERS = {  # file -> the commands that read it
    "run.json": [["eval"], ["train", "--resume"], ["sample"]],
    "config.toml": [["eval"], ["train", "--resume"], ["report"], ["sample"]],
    "results.json": [["report"]],
    "metrics.jsonl": [["report"], ["train", "--resume"]],
}


def _break_file(path: Path, fault: str) -> None:
    if fault == "missing":
        path.unlink()
    elif fault == "empty":
        path.write_bytes(b"")
    elif fault == "truncated":
        path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2 - 7)])
    elif fault == "binary":
        path.write_bytes(pickle.dumps({"x": Trap(path.parent / "UNPICKLED")}, protocol=4) + b"\xff\xfe")
    elif fault == "folder":
        path.unlink()
        path.mkdir()


@pytest.mark.parametrize("name, command", [(n, c) for n, cs in READERS.items() for c in cs])
@pytest.mark.parametrize("fault", ["missing", "empty", "truncated", "binary", "folder"])
def test_a_damaged_run_file_is_one_line_naming_it(trained, tmp_path, capsys, name, command, fault):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    if not (run / "results.json").exists():
        (run / "results.json").write_text('{"format": 1, "sections": {"x": {"a": 1.0}}}')
    if name == "metrics.jsonl" and fault in ("missing", "empty"):
        pytest.skip("a run without a training log is valid")  # (a run killed before its first record)
    if name == "results.json" and fault == "missing":
        pytest.skip("a run not evaluated yet is valid")
    _break_file(run / name, fault)
    before = _snapshot(run)
    capsys.readouterr()
    extra = [*TRAIN, "--set", "train.iterations=40"] if command[0] == "train" else []
    rc = cli.main([*command, str(run), *extra, "--out", str(tmp_path / "out")] if command[0] != "train"
                  else [*command, str(run), *extra])
    err = capsys.readouterr().err.strip()
    if name == "metrics.jsonl" and fault == "truncated" and rc == 0:
        return  # a torn last line is what a killed run leaves: skipped by design
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and str(run / name) in err, err
    assert _snapshot(run) == before
    assert not (run / "UNPICKLED").exists()


def test_kill_9_at_any_moment_then_resume_ends_bit_identical(tmp_path, capsys, one_thread):
    """SIGKILL a run again and again — before its first checkpoint, between checkpoints, and (with a
    checkpoint every step) very likely inside checkpoint writes — resuming each time: the last
    checkpoint's tensors and the training log equal those of a run never killed. Every part of it,
    in this process and in the killed ones, runs on one intra-op thread: sums split over another
    number of threads round differently in the last bit."""
    steps = ["--set", "train.iterations=25", "--set", "train.checkpoint_every=1", "--set", "train.log_every=3",
             "--quiet", "--no-eval"]
    whole = tmp_path / "whole"
    assert cli.main(["train", "gan_8gaussians", "--out", str(whole), *steps]) == 0
    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "latentlab.cli", "train"]
    rng = torch.Generator().manual_seed(0)
    kills = 0
    for attempt in range(4):
        cmd = base + (["gan_8gaussians", "--out", str(run)] if attempt == 0 else ["--resume", str(run)]) + steps
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen = len(list((run / "checkpoints").glob("step-*.json")))
        deadline = time.monotonic() + 120
        if attempt > 0:  # the first is killed before any checkpoint exists
            while (len(list((run / "checkpoints").glob("step-*.json"))) <= seen and proc.poll() is None
                   and time.monotonic() < deadline):
                time.sleep(0.01)
            time.sleep(float(torch.rand(1, generator=rng)) * 0.05)  # somewhere in the next step or its write
        else:
            while not (run / "config.toml").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
    assert kills >= 3
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(run), *steps]) == 0
    last = "checkpoints/step-00000025.safetensors"
    assert (run / last).read_bytes() == (whole / last).read_bytes()
    strip = [{k: v for k, v in json.loads(line).items() if k != "time"}
             for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert strip == [{k: v for k, v in json.loads(line).items() if k != "time"}
                     for line in (whole / "metrics.jsonl").read_text().splitlines()]
