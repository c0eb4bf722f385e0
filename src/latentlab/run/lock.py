"""One writer per run directory: a lock file naming the process that owns it.

`hold(folder, command)` creates `folder/run.lock` holding {"pid", "host", "started", "command"}
(and the process's start time where /proc has it, so a reused pid is not taken for the owner).
The file is written beside and hard-linked into place, so it appears complete or not at all, and
only one of two racing processes gets it. A second process is refused with one line naming the
owner. A lock left by a process that no longer exists on this host (killed with -9, a crash)
is stale: it is replaced, with a note. A lock from another host cannot be checked: the line
says how to remove it once that host's process is known to be gone. (Two processes that find
the same stale lock at the same instant could both replace it; the window is microseconds.)
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from latentlab.errors import UserError
from latentlab.files import process_alive, write_error

LOCK_NAME = "run.lock"
_HELD: set[Path] = set()  # the locks this process holds: holding one again is a no-op


class Busy(UserError):
    """Another live process holds the run directory."""


@contextmanager
def hold(folder: Path, command: str) -> Iterator[Path]:
    """Own `folder` for the block: create its lock file, refuse if a live process owns it, remove it after."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"run directory {folder} does not exist")
    path = folder / LOCK_NAME
    key = path.resolve()
    if key in _HELD:  # this process owns it already (train evaluates its run at the end)
        yield path
        return
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
          "command": command, "pid_start": _process_start(os.getpid())}
    _acquire(path, me)
    _HELD.add(key)
    try:
        yield path
    finally:
        _HELD.discard(key)
        if _read(path) == me:
            path.unlink(missing_ok=True)


def _acquire(path: Path, me: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(me))
    except OSError as e:
        raise write_error(path, e) from None
    try:
        for _ in range(3):  # a stale lock is removed, then we try again
            try:
                os.link(tmp, path)
                return
            except FileExistsError:
                owner = _read(path)
                if not _stale(owner):
                    raise Busy(_busy_line(path, owner)) from None
                if _read(path) == owner:  # still the same stale lock, not a newcomer's
                    print(f"latentlab: removing the stale lock {path} (process {owner.get('pid')} on "
                          f"{owner.get('host')} no longer exists)", file=sys.stderr)
                    path.unlink(missing_ok=True)
            except OSError as e:
                raise write_error(path, e) from None
        raise Busy(_busy_line(path, _read(path)))
    finally:
        tmp.unlink(missing_ok=True)


def _busy_line(path: Path, owner: dict | None) -> str:
    folder = path.parent
    if owner is None:
        return f"{folder} is locked ({path} exists but cannot be read); delete {path} if no latentlab process uses it"
    who = f"`latentlab {owner.get('command', '?')}` (pid {owner.get('pid')} on {owner.get('host')}, " \
          f"since {owner.get('started')})"
    if owner.get("host") != socket.gethostname():
        return f"{folder} is in use by {who}; wait for it, or delete {path} once that process is gone"
    return f"{folder} is in use by {who}; wait for it to finish or stop it, then run this again"


def _read(path: Path) -> dict | None:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _stale(owner: dict | None) -> bool:
    """Whether the lock's owner is a process of this host that no longer runs."""
    if owner is None or owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    pid = owner["pid"]
    if not process_alive(pid):
        return True
    started = owner.get("pid_start")
    return started is not None and _process_start(pid) not in (None, started)  # the pid was reused


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux /proc), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22, counted after the command name
