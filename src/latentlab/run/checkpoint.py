"""Checkpoints: tensors in safetensors, everything else in JSON, both written atomically.

`step-00020000.safetensors` holds every tensor of a nested state (model parameters,
optimizer moments, RNG states, the data permutation) under its path ("model/encoder.net.0.weight");
`step-00020000.json` holds the rest of the state with each tensor replaced by a reference.
The JSON is written last, so a checkpoint counts only once both files are complete.
Loading never unpickles.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import Tensor

from latentlab.errors import UserError
from latentlab.files import atomic_write

FORMAT = 1  # bump when the layout of a checkpoint changes
_NAME = re.compile(r"step-(\d{8})\.json$")


def _split(obj: Any, path: str, tensors: dict[str, Tensor]) -> Any:
    """Replace each tensor leaf of a nested dict/list by {"tensor": path}, collecting it."""
    if isinstance(obj, Tensor):
        tensors[path] = obj.detach().cpu().contiguous()
        return {"tensor": path}
    if isinstance(obj, dict):
        if obj and all(isinstance(k, int) for k in obj):  # optimizer state is keyed by int
            return {"int_keys": [[k, _split(v, f"{path}/{k}", tensors)] for k, v in obj.items()]}
        return {"dict": {k: _split(v, f"{path}/{k}", tensors) for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        return [_split(v, f"{path}/{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _join(obj: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(obj, dict):
        if "tensor" in obj:
            return tensors[obj["tensor"]]
        if "int_keys" in obj:
            return {int(k): _join(v, tensors) for k, v in obj["int_keys"]}
        return {k: _join(v, tensors) for k, v in obj["dict"].items()}
    if isinstance(obj, list):
        return [_join(v, tensors) for v in obj]
    return obj


def save_checkpoint(folder: Path, step: int, state: dict) -> Path:
    """Write `state` (nested dicts/lists of tensors and JSON values) as checkpoint `step`."""
    tensors: dict[str, Tensor] = {}
    meta = {"format": FORMAT, "step": step, "state": _split(state, "", tensors)}
    stem = Path(folder) / f"step-{step:08d}"
    atomic_write(stem.with_suffix(".safetensors"), save(tensors))
    atomic_write(stem.with_suffix(".json"), json.dumps(meta))
    return stem.with_suffix(".json")


def checkpoint_files(folder: Path) -> list[Path]:
    """The JSON files of the complete checkpoints in `folder`, oldest first."""
    return sorted(p for p in Path(folder).glob("step-*.json") if _NAME.search(p.name))


def latest_checkpoint(folder: Path) -> Path | None:
    """The JSON file of the newest complete checkpoint in `folder`, if any."""
    found = checkpoint_files(folder)
    return found[-1] if found else None


class DamagedCheckpoint(UserError):
    """A checkpoint whose files are missing, truncated, corrupt or foreign. `older` names the newest
    intact checkpoint before it in the same folder (None if there is none)."""

    def __init__(self, path: Path, why: str):
        self.path, self.why = Path(path), why
        self.older = _newest_intact(self.path)
        stem = self.path.with_suffix("")
        if self.older is None:
            todo = "no earlier checkpoint is intact: train the run again"
        else:
            todo = (f"the newest intact one is {self.older.with_suffix('').name}: delete {stem.name}.json and "
                    f"{stem.name}.safetensors to use it (train --resume falls back to it by itself)")
        super().__init__(f"checkpoint {stem} is damaged ({why}); {todo}")


def load_checkpoint(path: Path) -> tuple[int, dict]:
    """(step, state) of a checkpoint, given its .json path. A missing, truncated, corrupt or foreign
    file (a pickle renamed .safetensors, say) is a `DamagedCheckpoint`; nothing is ever unpickled."""
    try:
        return _load(Path(path))
    except _Broken as e:
        raise DamagedCheckpoint(Path(path), str(e)) from None


def load_newest(folder: Path) -> tuple[Path, int, dict, list[DamagedCheckpoint]] | None:
    """The newest checkpoint of `folder` that loads: (its .json file, step, state, the damaged newer ones
    passed over, newest first); None when there is no checkpoint. A UserError when none is intact."""
    found = checkpoint_files(folder)
    damaged = []
    for path in reversed(found):
        try:
            return (path, *load_checkpoint(path), damaged)
        except DamagedCheckpoint as e:
            damaged.append(e)
    if damaged:
        raise UserError(f"no checkpoint in {folder} is intact (the newest: {damaged[0].why}); train the run again")
    return None


def checkpoint_step(path: Path) -> int:
    """The step of a checkpoint, read from its .json file alone (no tensor is loaded)."""
    try:
        return _read_meta(Path(path))["step"]
    except _Broken as e:
        raise DamagedCheckpoint(Path(path), str(e)) from None


class _Broken(Exception):
    """Why a checkpoint's files cannot be loaded (inside this module; callers get DamagedCheckpoint)."""


def _load(path: Path) -> tuple[int, dict]:
    meta = _read_meta(path)
    tensors = _read_tensors(path.with_suffix(".safetensors"))
    try:
        return meta["step"], _join(meta["state"], tensors)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _Broken("its .json and .safetensors files do not belong together") from None


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise _Broken(f"{path.name} is missing") from None
    except OSError as e:
        raise _Broken(f"{path.name} cannot be read: {e.strerror}") from None
    except ValueError:
        raise _Broken(f"{path.name} is {_what_instead(path)}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("step"), int) or "state" not in meta:
        raise _Broken(f"{path.name} is JSON but not a checkpoint's")
    if meta.get("format") != FORMAT:
        raise UserError(
            f"checkpoint {path} has format {meta.get('format')!r}, this latentlab reads format {FORMAT}; "
            "it was written by another version: retrain, or use that version"
        )
    return meta


def _read_tensors(path: Path) -> dict[str, Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise _Broken(f"{path.name} is missing") from None
    except OSError as e:
        raise _Broken(f"{path.name} cannot be read: {e.strerror}") from None
    except (SafetensorError, ValueError):
        raise _Broken(f"{path.name} is {_what_instead(path)}") from None


def _what_instead(path: Path) -> str:
    """What a file that failed to parse looks like: empty, a pickle, or cut short / corrupt."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        head = b""
    if not head:
        return "empty"
    if head[:1] == b"\x80" or head == b"PK\x03\x04":  # pickle protocol 2+, torch.save's zip
        return "a pickle (torch.save) file, not safetensors; it was not loaded: unpickling can run code"
    return "truncated or corrupt"


def _newest_intact(path: Path) -> Path | None:
    """The newest checkpoint before `path` in its folder that loads completely."""
    match = _NAME.search(path.name)
    if match is None:
        return None
    for older in reversed(checkpoint_files(path.parent)):
        if int(_NAME.search(older.name).group(1)) >= int(match.group(1)):
            continue
        try:
            _load(older)
            return older
        except (_Broken, UserError):
            continue
    return None
