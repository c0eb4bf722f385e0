"""The run-directory lock: one owner at a time, stale locks of dead processes replaced."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from latentlab.run.lock import LOCK_NAME, Busy, hold


def test_the_lock_names_its_owner_and_goes_away_after(tmp_path):
    with hold(tmp_path, "train") as path:
        owner = json.loads(path.read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        assert owner["command"] == "train"
    assert not (tmp_path / LOCK_NAME).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary left either


def test_a_second_owner_is_refused_with_one_line(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a live process
    try:
        lock = {"pid": owner.pid, "host": socket.gethostname(), "started": "2026-11-29 12:00:00",
                "command": "train"}
        (tmp_path / LOCK_NAME).write_text(json.dumps(lock))
        before = (tmp_path / LOCK_NAME).read_bytes()
        with pytest.raises(Busy) as e:
            with hold(tmp_path, "eval"):
                pass
    finally:
        owner.kill()
        owner.wait()
    assert str(e.value) == (f"{tmp_path} is in use by `latentlab train` (pid {owner.pid} on {socket.gethostname()}, "
                            "since 2026-11-29 12:00:00); wait for it to finish or stop it, then run this again")
    assert (tmp_path / LOCK_NAME).read_bytes() == before  # the owner keeps its lock


def test_holding_again_in_the_same_process_is_a_no_op(tmp_path):
    with hold(tmp_path, "train") as path:
        with hold(tmp_path, "eval"):  # train evaluates its own run at the end
            assert json.loads(path.read_text())["command"] == "train"
        assert path.exists()
    assert not path.exists()


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_a_lock_of_a_dead_process_is_replaced_with_a_note(tmp_path, capsys):
    stale = {"pid": _dead_pid(), "host": socket.gethostname(), "started": "2026-01-01 00:00:00",
             "command": "train"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(stale))
    with hold(tmp_path, "eval") as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    err = capsys.readouterr().err.strip()
    assert err == (f"latentlab: removing the stale lock {tmp_path / LOCK_NAME} (process {stale['pid']} on "
                   f"{stale['host']} no longer exists)")


def test_a_reused_pid_is_not_taken_for_the_owner(tmp_path):
    """The pid is alive (it is ours), but the process that started at that time is gone."""
    stale = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-01-01 00:00:00",
             "command": "train", "pid_start": -1}
    (tmp_path / LOCK_NAME).write_text(json.dumps(stale))
    if not os.path.exists(f"/proc/{os.getpid()}/stat"):
        pytest.skip("no /proc: process start times are unknown here")
    with hold(tmp_path, "eval") as path:
        assert json.loads(path.read_text())["command"] == "eval"


def test_a_lock_from_another_host_is_refused_and_says_how_to_clear_it(tmp_path):
    other = {"pid": 1, "host": "elsewhere.example", "started": "2026-01-01 00:00:00", "command": "train"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(other))
    before = (tmp_path / LOCK_NAME).read_bytes()
    with pytest.raises(Busy, match=rf"in use by `latentlab train` \(pid 1 on elsewhere.example, since 2026-01-01 "
                                   rf"00:00:00\); wait for it, or delete {tmp_path / LOCK_NAME} once that process "
                                   "is gone$"):
        with hold(tmp_path, "eval"):
            pass
    assert (tmp_path / LOCK_NAME).read_bytes() == before
