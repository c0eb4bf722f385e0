"""Arrays handed to the Python API (`latentlab.train(config, data=x)`), kept in the run directory.

The run stores them in the file its `Run.arrays_path` names (x, and y, x_test, y_test where given)
exactly as handed over, before any split or standardisation; the config names the source "memory",
so evaluate, sample, report and --resume read this copy, from Python or from the CLI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentlab.data.arrays import KEYS, check_arrays
from latentlab.errors import UserError
from latentlab.files import atomic_write


def memory_path(run) -> Path:
    """The run's copy of its arrays: `run.arrays_path` of the run directory (a `Run`) that keeps them."""
    if run is None:
        raise UserError("data.name = \"memory\" is the copy a run keeps of arrays given to latentlab.train(data=...); "
                        "open the run (latentlab eval RUN) or use data.name = \"array\" with data.path")
    return run.arrays_path


def as_arrays(data) -> dict[str, np.ndarray]:
    """x, (x, y) or {"x", "y", "x_test", "y_test"} of NumPy arrays or tensors -> checked NumPy arrays."""
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(KEYS))
        if unknown or "x" not in data:
            raise UserError(f"data= got keys {', '.join(sorted(data))}; expected x, and optionally y, x_test, y_test")
        named = dict(data)
    elif isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise UserError(f"data= got a sequence of {len(data)} items; pass x, (x, y) or a dict")
        named = {"x": data[0], "y": data[1]}
    else:
        named = {"x": data}
    arrays = {}
    for key, value in named.items():
        if value is None:
            continue
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        if not isinstance(value, np.ndarray):
            raise UserError(f"data=: {key} is a {type(value).__name__}; pass a NumPy array or a tensor")
        arrays[key] = value
    return check_arrays(arrays, "data=")


def save_memory(arrays: dict[str, np.ndarray], path: Path) -> Path:
    """Write the arrays as one safetensors file at `path` (a run's `arrays_path`), atomically."""
    from safetensors.numpy import save

    atomic_write(path, save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))
    return path
