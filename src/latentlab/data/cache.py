"""The one cache directory: decoded image sets and checksum stamps, never inside a data folder.

`cache_dir()` is $LATENTLAB_CACHE, else the platform's user cache folder ($XDG_CACHE_HOME or
~/.cache on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows) + "/latentlab".
`load_tensors` / `save_tensors` keep dicts of tensors as safetensors files named by a key;
`fingerprint` turns the files a result was made from (names, sizes, mtimes) and the settings
that made it into such a key, so a changed, added or removed file or another setting misses.
Every write is atomic (temp file, then rename); a cache that cannot be written is skipped,
and an unreadable entry is treated as a miss, so the cache can only ever save time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from latentlab.errors import UserError
from latentlab.files import atomic_path, atomic_write


def cache_dir() -> Path:
    """$LATENTLAB_CACHE, else the platform's user cache folder + /latentlab (an empty value counts as unset)."""
    env = os.environ.get("LATENTLAB_CACHE")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "latentlab"


def fingerprint(files: list[Path], settings: dict) -> str:
    """A sha256 over each file's path (as given: pass paths under a resolved folder), size and
    mtime (ns), and over `settings` (JSON)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        info = os.stat(path)
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def entry_path(kind: str, key: str) -> Path:
    """Where the cache keeps entry `key` of `kind` ("images", "verified", ...)."""
    return cache_dir() / kind / key


def load_tensors(kind: str, key: str) -> dict[str, Tensor] | None:
    """The tensors cached under `key`, or None when absent or unreadable."""
    path = entry_path(kind, key + ".safetensors")
    try:
        return load_file(path)
    except (OSError, SafetensorError, ValueError):
        return None


def save_tensors(kind: str, key: str, tensors: dict[str, Tensor], meta: dict[str, str] | None = None) -> None:
    """Keep `tensors` under `key` (atomically); silently skipped where the cache cannot be written."""
    try:
        with atomic_path(entry_path(kind, key + ".safetensors")) as tmp:
            save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=meta)
    except (OSError, UserError):
        pass


def read_json(kind: str, key: str) -> dict:
    """The JSON object kept under `key`, or {} when absent or unreadable."""
    try:
        value = json.loads(entry_path(kind, key + ".json").read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_json(kind: str, key: str, value: dict) -> None:
    """Keep `value` under `key` (atomically); silently skipped where the cache cannot be written."""
    try:
        atomic_write(entry_path(kind, key + ".json"), json.dumps(value, indent=1))
    except (OSError, UserError):
        pass


def folder_key(folder: Path) -> str:
    """A cache key for a folder: its name and a short hash of its resolved path."""
    resolved = Path(folder).resolve()
    return f"{resolved.name}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:16]}"
