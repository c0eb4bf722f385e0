"""kill -9 at exact instants inside a write (the test hook LATENTLAB_TEST_PAUSE_IN_WRITE of files.py
pauses there): a checkpoint's tensors complete but not renamed, the tensors in place without their
JSON, the JSON not renamed, and, while resuming, metrics.jsonl and run.json not renamed. Each time
the run is resumed; the leftover temporary files are ignored by every reader and removed, and the
run ends bit-identical to one never killed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from latentlab import cli
from latentlab.files import atomic_write
from latentlab.run.checkpoint import latest_checkpoint

SRC = Path(__file__).resolve().parents[1] / "src"
STEPS = ["--quiet", "--no-eval", "--set", "train.iterations=12", "--set", "train.checkpoint_every=3",
         "--set", "train.log_every=2"]
CHECKPOINTS = [f"step-{s:08d}.safetensors" for s in (3, 6, 9, 12)]


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    """The uninterrupted run, on one intra-op thread like the killed subprocesses (OMP_NUM_THREADS=1) and
    the resumes in this process (the one_thread fixture): another thread count rounds sums differently."""
    run = tmp_path_factory.mktemp("whole") / "run"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli.main(["train", "gan_8gaussians", "--out", str(run), *STEPS]) == 0
    finally:
        torch.set_num_threads(before)
    return run


def _records(run: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock "time" of each record (the one value that may differ)."""
    return [{k: v for k, v in json.loads(line).items() if k != "time"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _kill_when_paused(command: list[str], pause: str, marker: Path) -> None:
    """Run `latentlab train ...` with the hook set to `pause`; kill -9 it as soon as it pauses there."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1",
           "LATENTLAB_TEST_PAUSE_IN_WRITE": f"{pause}:{marker}"}
    proc = subprocess.Popen([sys.executable, "-m", "latentlab.cli", "train", *command], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert marker.exists(), f"never paused at {pause}: {proc.poll()=}"
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert proc.returncode == -9, err


# each case: the pauses of successive processes, the first `train --out`, the others `train --resume`
CASES = {
    "safetensors-not-renamed": ["before-rename:step-00000006.safetensors"],
    "safetensors-without-json": ["after-rename:step-00000006.safetensors"],
    "json-not-renamed": ["before-rename:step-00000006.json"],
    "again-while-resuming": ["before-rename:step-00000006.json", "before-rename:metrics.jsonl",
                             "before-rename:run.json", "before-rename:step-00000009.safetensors"],
}


@pytest.mark.parametrize("case", CASES)
def test_kill_9_inside_a_write_then_resume_ends_bit_identical(whole, tmp_path, capsys, case, one_thread):
    run = tmp_path / "run"
    for i, pause in enumerate(CASES[case]):
        start = ["gan_8gaussians", "--out", str(run)] if i == 0 else ["--resume", str(run)]
        _kill_when_paused([*start, *STEPS], pause, tmp_path / f"paused-{i}")
        when, name = pause.split(":")
        folder = run / "checkpoints" if name.startswith("step-") else run
        left = [p.name for p in run.rglob(".*.tmp")]
        if when == "before-rename":  # the complete temporary file is there, the destination is not new
            assert [n for n in left if n.split(".")[1:3] == name.split(".")], left
            assert not (name.startswith("step-") and (folder / name).exists())
        else:  # the checkpoint's tensors are in place, its JSON is not: the checkpoint does not count yet
            assert left == [] and (folder / name).exists() and not (folder / name).with_suffix(".json").exists()
        newest = latest_checkpoint(run / "checkpoints")  # no reader takes a temporary file for a checkpoint
        assert newest is not None and newest.name == ("step-00000003.json" if i == 0 else newest.name)
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(run), *STEPS]) == 0
    assert list(run.rglob("*.tmp")) == []  # removed at resume
    for name in CHECKPOINTS:  # every checkpoint's tensors equal those of the run never killed, to the byte
        assert (run / "checkpoints" / name).read_bytes() == (whole / "checkpoints" / name).read_bytes(), name
    assert _records(run) == _records(whole)


def test_a_write_removes_the_temporary_files_that_dead_processes_left_for_the_same_file(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine, theirs = f".a.json.{os.getpid()}.0123abcd.tmp", f".a.json.{dead.pid}.0123abcd.tmp"
    other = f".b.json.{dead.pid}.0123abcd.tmp"  # another destination's: left for its own next write
    for name in (mine, theirs, other):
        (tmp_path / name).write_text("{")
    atomic_write(tmp_path / "a.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine, other, "a.json"])


def test_resume_removes_the_temporary_files_of_dead_processes_in_the_run(whole, tmp_path, capsys, one_thread):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [run / f".results.json.{dead.pid}.0123abcd.tmp",  # files no later write of this run replaces
             run / "checkpoints" / f".step-00000099.safetensors.{dead.pid}.0123abcd.tmp"]
    live = run / f".results.json.{os.getpid()}.0123abcd.tmp"  # a write in progress is left alone
    for p in (*stale, live):
        p.write_bytes(b"\x00" * 10)
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(run), *STEPS]) == 0
    assert [p for p in stale if p.exists()] == [] and live.exists()
