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


def load_checkpoint(path: Path) -> tuple[int, dict]:
    """(step, state) of a checkpoint, given its .json path."""
    path = Path(path)
    meta = _read_meta(path)
    try:
        tensors = load_file(str(path.with_suffix(".safetensors")))
    except (OSError, ValueError, SafetensorError) as e:  # missing, truncated or not safetensors
        raise UserError(f"checkpoint {path} cannot be read ({e}); delete it to fall back to an earlier one") from None
    return meta["step"], _join(meta["state"], tensors)


def checkpoint_step(path: Path) -> int:
    """The step of a checkpoint, read from its .json file alone (no tensor is loaded)."""
    return _read_meta(Path(path))["step"]


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"checkpoint {path} cannot be read ({e}); delete it to fall back to an earlier one") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise UserError(
            f"checkpoint {path} has format {found!r}, this latentlab reads format {FORMAT}; "
            "it was written by another version: retrain, or use that version"
        )
    return meta
