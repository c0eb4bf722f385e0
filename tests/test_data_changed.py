"""A run notices when its data changed: run.json keeps a fingerprint of the data it trained on, and
`train --resume` and `eval` on data that changed since refuse with one line and exit 2, leaving every
file of the run as it was, unless the user says so (`--set data.accept_changed=true`, recorded like
every resume override; `eval --accept-changed-data`)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import latentlab
from latentlab import cli
from latentlab.data.fingerprint import changed
from latentlab.run import Run

SRC = str(Path(latentlab.__file__).parent.parent)
TINY = ["train.iterations=2", "train.batch_size=4", "train.log_every=1", "train.checkpoint_every=2",
        "data.binarize=none", "model.likelihood=gaussian", "model.z_dim=2", "eval.protocol=test",
        "eval.iwae_k=[1]", "eval.iwae_repeats=[1]", "eval.figures=false"]


def _image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (6, 6), dtype=np.uint8)).save(path)


def _folder(root: Path) -> Path:
    for i in range(10):
        _image(root / f"{i}.png", i)
    return root


def _train(out: Path, *data: str) -> Path:
    sets = [a for s in [*TINY, *data] for a in ("--set", s)]
    assert cli.main(["train", "cs236_vae", "--out", str(out), "--quiet", *sets]) == 0
    return out


def _hashes(run: Path) -> dict[str, str]:
    """The SHA-256 of every file in the run directory, by relative name."""
    return {p.relative_to(run).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


def _latentlab(*argv) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "latentlab.cli", *map(str, argv)], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("changed")
    photos = _folder(root / "photos")
    return _train(root / "run", "data.name=folder", f"data.path={photos}"), photos


def test_run_json_keeps_the_fingerprint_of_the_data(folder_run):
    run, photos = folder_run
    recorded = Run.open(run).data_fingerprint
    assert recorded["source"] == "folder" and sorted(recorded["files"]) == [f"{i}.png" for i in range(10)]
    size, mtime = recorded["files"]["3.png"]
    assert size == (photos / "3.png").stat().st_size and mtime == (photos / "3.png").stat().st_mtime_ns


@pytest.mark.parametrize("change, said", [
    ("added", "1 file added (new.png)"),
    ("removed", "1 file removed (0.png)"),
    ("modified", "1 file modified (5.png)"),
    ("all", "2 files added (new.png, zz.png), 1 removed (0.png), 1 modified (5.png)"),
])
def test_a_changed_folder_is_refused_and_the_run_left_as_it_was(tmp_path, change, said):
    photos = _folder(tmp_path / "photos")
    run = _train(tmp_path / "run", "data.name=folder", f"data.path={photos}")
    if change in ("added", "all"):
        _image(photos / "new.png", 100)
    if change == "all":
        _image(photos / "zz.png", 101)
    if change in ("removed", "all"):
        (photos / "0.png").unlink()
    if change in ("modified", "all"):
        _image(photos / "5.png", 102)
    before = _hashes(run)
    for argv in (["train", "--resume", run, "--quiet", "--set", "train.iterations=4"], ["eval", run, "--quiet"]):
        done = _latentlab(*argv)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert f"the data of {run} changed since the run last trained on them: {said};" in done.stderr, done.stderr
        assert _hashes(run) == before  # no checkpoint, no metrics line, no results, no config change, no lock


def test_a_rewritten_array_file_is_refused(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).random((12, 5)).astype(np.float32))
    run = _train(tmp_path / "run", "data.name=array", f"data.path={path}")
    old = Run.open(run).data_fingerprint["sha256"]
    np.save(path, np.random.default_rng(1).random((12, 5)).astype(np.float32))  # same size, other numbers
    before = _hashes(run)
    for argv in (["train", "--resume", run, "--quiet", "--set", "train.iterations=4"], ["eval", run, "--quiet"]):
        done = _latentlab(*argv)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert f"the array file's checksum changed (was {old[:12]}…, now " in done.stderr, done.stderr
        assert _hashes(run) == before


def test_the_explicit_override_resumes_on_the_new_data_and_is_recorded(tmp_path, capsys):
    photos = _folder(tmp_path / "photos")
    run = _train(tmp_path / "run", "data.name=folder", f"data.path={photos}")
    _image(photos / "new.png", 100)
    assert cli.main(["eval", str(run), "--quiet", "--accept-changed-data"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 file added (new.png); evaluating on the data as they are now" in err
    assert Run(run).data_fingerprint["files"].keys() == {f"{i}.png" for i in range(10)}  # eval records nothing

    assert cli.main(["train", "--resume", str(run), "--quiet", "--no-eval", "--set", "train.iterations=4",
                     "--set", "data.accept_changed=true"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 file added (new.png); training on the data as they are now" in err
    text = (run / "config.toml").read_text()
    assert text.startswith("# resumed at step 2 with data.accept_changed = true (was false), "
                           "train.iterations = 4 (was 2)\n")
    assert "accept_changed = true" in text.split("[data]")[1].split("[train]")[0]
    assert Run(run).step == 4 and "new.png" in Run(run).data_fingerprint["files"]  # the new data recorded
    assert _latentlab("eval", run, "--quiet").returncode == 0  # the data the run last trained on


def test_a_run_without_a_fingerprint_is_not_refused(folder_run, tmp_path):
    trained, _ = folder_run
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    meta = json.loads((run / "run.json").read_text())
    del meta["data_fingerprint"]  # as written before fingerprints were kept
    (run / "run.json").write_text(json.dumps(meta))
    assert cli.main(["train", "--resume", str(run), "--quiet", "--no-eval", "--set", "train.iterations=3"]) == 0
    assert Run(run).data_fingerprint["source"] == "folder"  # kept from now on


def test_what_changed_in_one_line():
    assert changed(None, {"source": "array", "sha256": "a"}) is None  # a run made before fingerprints
    files = {f"{i}.png": [10, i] for i in range(6)}
    now = {k: v for k, v in files.items() if k != "0.png"}
    now.update({"1.png": [11, 1], **{f"n{i}.png": [1, 1] for i in range(4)}})
    assert changed({"source": "folder", "files": files}, {"source": "folder", "files": files}) is None
    assert changed({"source": "folder", "files": files}, {"source": "folder", "files": now}) == \
        "4 files added (n0.png, n1.png, n2.png, …), 1 removed (0.png), 1 modified (1.png)"
    old, new = {"source": "memory", "sha256": "0123456789abcdef"}, {"source": "memory", "sha256": "fedcba9876543210"}
    assert changed(old, new) == "the kept arrays' checksum changed (was 0123456789ab…, now fedcba987654…)"
