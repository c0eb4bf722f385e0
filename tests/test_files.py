"""Atomic writes: a bad path, a read-only folder or a full disk gives one line and keeps the old file.

The read-only and disk-full cases run in a subprocess: one that drops root privileges (root
ignores permission bits), one under a small RLIMIT_FSIZE with SIGXFSZ ignored, so the kernel
answers a too-large write with EFBIG, as a full disk answers with ENOSPC.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from latentlab.errors import UserError
from latentlab.files import atomic_path, atomic_write

SRC = Path(__file__).resolve().parents[1] / "src"
OLD = b"the previous, good content\n"


def _run(code: str, *, fsize: int | None = None, args=(), cwd=None):
    """Run python `code` (or `-m latentlab.cli` with `args`) in a subprocess under a file-size limit."""
    def limits():
        import resource
        import signal
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death; kept across exec
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "latentlab.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, preexec_fn=limits, cwd=cwd,
                          timeout=300)


WRITE = textwrap.dedent("""
    import os, sys
    from latentlab.errors import UserError
    from latentlab.files import atomic_write
    if {as_nobody} and os.geteuid() == 0:  # root ignores permission bits: become nobody, imports done
        os.setgid(65534)
        os.setuid(65534)
    try:
        atomic_write(sys.argv[1] if len(sys.argv) > 1 else {path!r}, b"x" * {size})
    except UserError as e:
        print(e, file=sys.stderr)
        sys.exit(2)
""")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a" / "b" / "results.json"
    atomic_write(path, json.dumps({"x": 1}))
    atomic_write(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert _leftovers(path.parent) == []
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()  # like open(): the umask decides


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "figure.png"
    path.write_bytes(OLD)
    with pytest.raises(RuntimeError, match="drawing failed"):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half a figure")
            raise RuntimeError("drawing failed")
    assert path.read_bytes() == OLD and _leftovers(tmp_path) == []


@pytest.mark.parametrize("depth", [0, 2])
def test_a_parent_that_is_a_regular_file_is_one_line(tmp_path, depth):
    blocker = tmp_path / "runs"
    blocker.write_bytes(OLD)
    path = blocker.joinpath(*["sub"] * depth, "results.json")
    with pytest.raises(UserError) as e:
        atomic_write(path, "{}")
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"cannot write {path}: {blocker} is a file, not a folder")
    assert blocker.read_bytes() == OLD


def test_an_out_folder_under_a_regular_file_is_one_line(tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_bytes(OLD)
    done = _run("", args=["train", "gan_8gaussians", "--out", str(blocker / "run"), "--quiet"])
    assert done.returncode == 2
    assert done.stderr.strip() == (f"latentlab train: error: cannot create {blocker / 'run'}: {blocker} is a file, "
                                   "not a folder; choose another location or move that file")
    assert blocker.read_bytes() == OLD


def test_a_read_only_folder_is_one_line_and_the_old_file_stays():
    with tempfile.TemporaryDirectory() as top:  # under /tmp, so that nobody may walk to it
        Path(top).chmod(0o755)
        folder = Path(top) / "shared"
        folder.mkdir()
        path = folder / "summary.json"
        path.write_bytes(OLD)
        folder.chmod(0o555)
        try:
            done = _run(WRITE.format(path=str(path), size=10, as_nobody=True))
        finally:
            folder.chmod(0o755)
        assert path.read_bytes() == OLD and _leftovers(folder) == []
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line
    assert line == (f"cannot write {path}: permission denied; choose a writable location; "
                    "the previous file is unchanged")


def test_a_full_disk_is_one_line_and_the_old_file_stays(tmp_path):
    path = tmp_path / "results.json"
    path.write_bytes(OLD)
    done = _run(WRITE.format(path=str(path), size=1 << 20, as_nobody=False), fsize=64 << 10)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"cannot write {path}: the disk is full or a quota or file-size limit was reached")
    assert path.read_bytes() == OLD and _leftovers(tmp_path) == []


def test_a_full_disk_during_a_checkpoint_stops_training_with_one_line(tmp_path):
    """A resumed run that cannot write its next checkpoint exits 2 with one line; the files
    of the first run are byte-for-byte as they were, and no half checkpoint counts."""
    run = tmp_path / "run"
    common = ["--quiet", "--no-eval", "--set", "train.checkpoint_every=10"]
    first = _run("", args=["train", "gan_8gaussians", "--out", str(run), "--set", "train.iterations=10", *common])
    assert first.returncode == 0, first.stderr
    before = {p: p.read_bytes() for p in run.rglob("*")  # the log grows and the config records the
              if p.is_file() and p.name not in ("metrics.jsonl", "config.toml")}  # new iterations
    assert any(p.suffix == ".safetensors" for p in before)
    done = _run("", args=["train", "--resume", str(run), "--set", "train.iterations=20", *common],
                fsize=256 << 10)  # metrics and configs fit; a 1.6 MB checkpoint does not
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot write" in lines[0] and "step-00000020.safetensors" in lines[0]
    assert "file-size limit" in lines[0]
    assert {p: p.read_bytes() for p in before} == before
    assert not list(run.rglob("*.tmp")) and not (run / "checkpoints" / "step-00000020.json").exists()
