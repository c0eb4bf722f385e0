"""Reading and writing files so that a crash, a full disk, a bad path or a damaged file never
costs a good file or a traceback.

Reading: `read_text` and `read_json` turn a missing, unreadable, binary, truncated or foreign file
into one `UserError` line naming it and saying what to do (`todo`, given by the caller).

Writing: every file latentlab writes goes through `atomic_write` (bytes or text in hand) or
`atomic_path` (a writer that wants a path, like matplotlib's `savefig` or safetensors'
`save_file`). Both write a temporary file in the destination's folder, flush and fsync it,
rename it over the destination (atomic on POSIX), then fsync the folder so the rename itself
survives a power cut. Until the rename, the old file is untouched; a failed write removes
the temporary file. A process killed between the two (kill -9, a power cut) leaves a hidden
`.<name>.<pid>.<random>.tmp` beside the destination: no reader looks at such names, and
`remove_stale_temporaries` deletes those of dead processes — the next successful write to the same
destination does so by itself, and `train --resume` does it for its run directory.

Test hook: with LATENTLAB_TEST_PAUSE_IN_WRITE=WHEN:NAME:MARKER in the environment, a write whose
destination's name contains NAME touches the file MARKER and sleeps, so that a test can kill the
process at that instant; WHEN is `before-rename` (the temporary file is complete, the destination
still old) or `after-rename` (the destination is complete, e.g. a checkpoint's .safetensors without
its .json). It is read once at import: unset, it costs nothing.

A destination that cannot be written — a parent that is a regular file, a read-only folder,
a full disk, a quota or file-size limit — raises one `UserError` line naming the path and
what to do, never a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from latentlab.errors import UserError

FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # no space, quota exceeded, file-size limit
DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}
_TEMPORARY = re.compile(r"^\.(.+)\.(\d+)\.[0-9a-f]{8}\.tmp$")  # .<name>.<pid>.<random>.tmp
_PAUSE = os.environ.get("LATENTLAB_TEST_PAUSE_IN_WRITE", "").split(":", 2)  # the test hook: WHEN:NAME:MARKER


def read_text(path: Path, *, todo: str) -> str:
    """The UTF-8 text of `path`; a file that is missing, unreadable or not text is one UserError line."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {todo}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a file; {todo}") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}; {todo}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is corrupt (binary, not text); {todo}") from None


def read_json(path: Path, *, todo: str) -> dict[str, Any]:
    """The JSON object in `path`; a file that is missing, empty, truncated, not JSON or not an object
    is one UserError line naming it and `todo`."""
    text = read_text(path, todo=todo)
    try:
        value = json.loads(text)
    except ValueError as e:
        why = "empty" if not text.strip() else f"not JSON, truncated or damaged: {e.msg} at line {e.lineno}"
        raise UserError(f"{path} is corrupt ({why}); {todo}") from None
    if not isinstance(value, dict):
        raise UserError(f"{path} is corrupt (JSON, but not an object); {todo}")
    return value


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically and durably; returns `path`."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A fresh temporary path beside `path` for the block to write; if the block succeeds it is
    fsynced and renamed over `path`, and the folder is fsynced. On any failure it is removed."""
    path = Path(path)
    make_dir(path.parent, purpose=path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        try:
            yield tmp
        except OSError as e:
            if e.filename not in (None, str(tmp), tmp):  # another file's failure: not ours to explain
                raise
            raise write_error(path, e) from None
        try:
            _fsync_file(tmp)
            _pause("before-rename", path)
            os.replace(tmp, path)
        except OSError as e:
            raise write_error(path, e) from None
        _fsync_dir(path.parent)
        _pause("after-rename", path)
        remove_stale_temporaries(path.parent, name=path.name)
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def remove_stale_temporaries(folder: Path, *, name: str | None = None) -> None:
    """Delete the temporary files in `folder` (of destination `name` only, if given) left by writes
    of processes of this host that no longer run; those of live processes are kept."""
    try:
        for p in Path(folder).iterdir():
            m = _TEMPORARY.match(p.name)
            if m and (name is None or m.group(1) == name) and not process_alive(int(m.group(2))):
                p.unlink(missing_ok=True)
    except OSError:
        pass  # tidying up: never a reason to fail a write


def process_alive(pid: int) -> bool:
    """Whether process `pid` of this host runs (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # alive, another user's
    return True


def _pause(when: str, path: Path) -> None:
    """The test hook (see the module docstring): touch MARKER and sleep until killed."""
    if len(_PAUSE) == 3 and _PAUSE[0] == when and _PAUSE[1] in path.name:
        Path(_PAUSE[2]).touch()
        time.sleep(3600)


def make_dir(folder: Path, *, purpose: Path | None = None) -> Path:
    """mkdir -p `folder`; a failure is one UserError line about `purpose` (default: the folder)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise (write_error(purpose, e) if purpose is not None else write_error(folder, e, verb="create")) from None
    return folder


def write_error(path: Path, e: OSError, verb: str = "write") -> UserError:
    """The one line for an OSError met while writing (or creating) `path`: what happened and what to do."""
    blocker = _file_in_the_way(Path(path).parent)
    if blocker is not None:
        why, todo = f"{blocker} is a file, not a folder", "choose another location or move that file"
    elif e.errno in FULL:
        why = "the disk is full or a quota or file-size limit was reached"
        todo = "free some space or write elsewhere"
    elif e.errno in DENIED:
        why = "the location is read-only" if e.errno == errno.EROFS else "permission denied"
        todo = "choose a writable location"
    else:
        why, todo = e.strerror or str(e), "check the location and try again"
    kept = "; the previous file is unchanged" if verb == "write" and Path(path).exists() else ""
    return UserError(f"cannot {verb} {path}: {why}; {todo}{kept}")


def _file_in_the_way(folder: Path) -> Path | None:
    """The nearest existing ancestor of `folder` (itself included) if it is not a directory."""
    for p in (folder, *folder.parents):
        if p.exists() or p.is_symlink():
            return None if p.is_dir() else p
    return None


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FolderHandle:
    """An object that stands for a folder's path (a run, a study's result): `os.fspath(h)`, `str(h)`, `h / "x"`,
    and equality and hashing by path, equal to a str or os.PathLike of the same path."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    __str__ = __fspath__

    def __truediv__(self, name: str | Path) -> Path:
        return self.path / name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FolderHandle):
            return type(self) is type(other) and self.path == other.path
        return self.path == Path(other) if isinstance(other, (str, os.PathLike)) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.path)
