"""Arrays handed to the Python API (`latentlab.train(config, data=x)`), kept in the run directory.

The run stores them in the file its `Run.arrays_path` names (x, and y, x_test, y_test where given)
exactly as handed over, before any split or standardisation; the config names the source "memory",
so evaluate, sample, report and --resume read this copy, from Python or from the CLI.
"""

from __future__ import annotations

import json
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


def as_arrays(data) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """x, (x, y) or {"x", "y", "x_test", "y_test"} of NumPy arrays, tensors, pandas DataFrames or anything
    with `__array__` -> checked NumPy arrays, and the column names of a DataFrame x (else ())."""
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
    arrays, columns = {}, {}
    for key, value in named.items():
        if value is None:
            continue
        if hasattr(value, "columns") and hasattr(value, "select_dtypes"):  # a pandas DataFrame: a table
            value, columns[key] = _frame_values(value, key)
        elif hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        elif hasattr(value, "__array__"):  # a pandas Series, an xarray, ...
            value = np.asarray(value)
        if not isinstance(value, np.ndarray):
            raise UserError(f"data=: {key} is a {type(value).__name__}; pass a NumPy array, a tensor or a DataFrame")
        arrays[key] = value
    if "x_test" in columns and columns["x_test"] != columns.get("x"):
        raise UserError("data=: x_test's columns differ from x's; give both frames the same columns in the same order")
    return check_arrays(arrays, "data="), columns.get("x", ())


def _frame_values(frame, key: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """A DataFrame's numbers as float64 (N, D) and its column names; non-numeric columns are refused."""
    text = [str(c) for c in frame.columns if c not in frame.select_dtypes("number").columns]
    if text:
        raise UserError(f"data=: {key} has columns that are not numbers ({', '.join(text[:5])}); "
                        "encode or drop them before training")
    return frame.to_numpy(dtype=np.float64), tuple(str(c) for c in frame.columns)


def save_memory(arrays: dict[str, np.ndarray], path: Path, columns: tuple[str, ...] = ()) -> Path:
    """Write the arrays as one safetensors file at `path` (a run's `arrays_path`), atomically, a table's
    column names in its metadata."""
    from safetensors.numpy import save

    metadata = {"columns": json.dumps(list(columns))} if columns else None
    return atomic_write(path, save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=metadata))
    return path
