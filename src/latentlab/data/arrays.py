"""Arrays as data: a .npy or .npz file (or arrays handed to the Python API), images or a table.

Keys: `x`, optional `y` (integer labels), optional `x_test` / `y_test`; a .npy file is `x`.
Images: (N, H, W) grey, (N, H, W, C) or (N, C, H, W) with C = 1 or 3 (channels first is taken
when the second axis is 1 or 3), values in [0, 1] (float) or 0..255 (any integer or float
dtype; uint8 stays uint8 in memory). A table: (N, D) real numbers. Labels: whole numbers of
any values; they become 0..K-1 in sorted order, the original values kept as class names.
Anything else (NaN or inf, another rank or dtype, len(y) != len(x)) is a UserError naming the
file and the array. Files are read with `allow_pickle=False`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from latentlab.errors import UserError

KEYS = ("x", "y", "x_test", "y_test")


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a .npy (as "x"), .npz or .safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; check data.path")
    try:
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            arrays = load_file(path)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        elif path.suffix == ".npy":
            arrays = {"x": np.load(path, allow_pickle=False)}
        else:
            raise UserError(f"{path}: data.name = \"array\" reads .npy or .npz files, got {path.suffix or 'no suffix'}")
    except UserError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, Exception) as error:  # numpy raises a zoo
        raise UserError(f"{path}: not a readable array file ({type(error).__name__}: {error})") from None
    unknown = sorted(set(arrays) - set(KEYS))
    if "x" not in arrays or unknown:
        raise UserError(f"{path}: holds {', '.join(sorted(arrays)) or 'nothing'}; expected x, and optionally "
                        "y, x_test, y_test")
    return arrays


def read_columns(path: str | Path) -> tuple[str, ...]:
    """A table's column names kept in a .safetensors file's metadata (arrays handed over as a DataFrame); ()."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return ()
    from safetensors import safe_open

    with safe_open(path, "np") as f:
        meta = f.metadata() or {}
    return tuple(json.loads(meta["columns"])) if "columns" in meta else ()


def check_arrays(arrays: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """Validated arrays: x (and x_test) images or a table of finite numbers, labels whole numbers
    of the right length. `where` names the source in errors (a file, or "data=")."""
    out = {"x": _check_x(arrays["x"], f"{where}: x")}
    if arrays.get("x_test") is not None:
        x_test = _check_x(arrays["x_test"], f"{where}: x_test")
        if x_test.shape[1:] != out["x"].shape[1:]:
            raise UserError(f"{where}: x_test has shape {x_test.shape}, x {out['x'].shape}; they must agree past axis 0")
        out["x_test"] = x_test
    for y_key, x_key in (("y", "x"), ("y_test", "x_test")):
        if arrays.get(y_key) is None:
            continue
        if x_key not in out:
            raise UserError(f"{where}: {y_key} without {x_key}")
        out[y_key] = _check_y(arrays[y_key], len(out[x_key]), f"{where}: {y_key}", x_key)
    if "x_test" in out and ("y" in out) != ("y_test" in out):
        raise UserError(f"{where}: labels for one split only; give both y and y_test, or neither")
    return out


def _check_x(x: np.ndarray, where: str) -> np.ndarray:
    """x as a finite numeric array of rank 2 (table), 3 or 4 (images), with N >= 1."""
    x = np.asarray(x)
    if x.dtype == bool:
        x = x.astype(np.uint8)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise UserError(f"{where} has dtype {x.dtype}; expected real numbers (an integer or float dtype)")
    if x.ndim not in (2, 3, 4) or len(x) == 0:
        raise UserError(f"{where} has shape {x.shape}; expected a table (N, D) or images (N, H, W), "
                        "(N, H, W, C) or (N, C, H, W) with N >= 1")
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            first = np.unravel_index(np.argmax(bad), x.shape)
            raise UserError(f"{where} holds {int(bad.sum())} NaN or infinite values (the first at index "
                            f"{tuple(int(i) for i in first)}); remove or impute them")
    return x


def _check_y(y: np.ndarray, n: int, where: str, x_key: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise UserError(f"{where} has shape {y.shape}; expected ({n},), one label per row of {x_key}")
    numeric = np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)
    if not numeric or (np.issubdtype(y.dtype, np.floating) and not (np.isfinite(y).all() and (y % 1 == 0).all())):
        raise UserError(f"{where} has dtype {y.dtype} with values that are not whole numbers; labels must be integers")
    return y.astype(np.int64)


def image_layout(x: np.ndarray, where: str) -> np.ndarray:
    """Images as (N, C, H, W): (N, H, W) gains C = 1; (N, H, W, C) with C in (1, 3) moves C forward."""
    if x.ndim == 3:
        return x[:, None]
    if x.shape[1] in (1, 3):
        return x
    if x.shape[3] in (1, 3):
        return x.transpose(0, 3, 1, 2)
    raise UserError(f"{where} has shape {x.shape}; images need 1 or 3 channels, as (N, C, H, W) or (N, H, W, C)")


def image_pixels(x: np.ndarray, where: str) -> np.ndarray:
    """Image values as uint8 0..255 (integers, or floats above 1) or float32 in [0, 1]."""
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise UserError(f"{where} ranges over [{lo:g}, {hi:g}]; image values must lie in [0, 1] or 0..255")
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.uint8)
    if hi > 1:
        if (x % 1 != 0).any():
            raise UserError(f"{where} ranges over [{lo:g}, {hi:g}] with fractions; image values must lie "
                            "in [0, 1] or be whole numbers 0..255")
        return x.astype(np.uint8)
    return x.astype(np.float32)


def label_classes(y_train: np.ndarray, y_test: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """Labels mapped to 0..K-1 in sorted order of their values, and the values as class names."""
    values = np.unique(y_train if y_test is None else np.concatenate([y_train, y_test]))
    mapped = [np.searchsorted(values, y) for y in (y_train, y_test) if y is not None]
    return mapped[0], (mapped[1] if y_test is not None else None), tuple(str(v) for v in values.tolist())
