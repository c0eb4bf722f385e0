"""Format readers: IDX (MNIST, Fashion-MNIST), Larochelle's .amat, and the MAT files of the
Frey faces, the Olivetti faces and SVHN.

Each reader returns writable numpy arrays and validates strictly: anything unexpected raises
UserError naming the file. Layouts are those of the original
releases: LeCun et al., "THE MNIST DATABASE" (IDX); Larochelle & Murray 2011 (.amat);
Roweis' data page (frey_rawface.mat, olivettifaces.mat); Netzer et al. 2011 (SVHN format 2).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import scipy.io

from latentlab.errors import UserError

GZIP_MAGIC = b"\x1f\x8b"
IDX_DIMS = {2049: 1, 2051: 3}  # magic -> number of dimensions: labels (N,), images (N, rows, cols)
AMAT_PIXELS = 784
AMAT_SEPARATORS = np.frombuffer(b" " * (AMAT_PIXELS - 1) + b"\n", np.uint8)
REDOWNLOAD = "delete the file and download it again"


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (gzipped or plain) as uint8: magic 2051 -> (N, rows, cols), 2049 -> (N,).

    IDX header: big-endian int32 magic (0x0000 08 0d: unsigned bytes, d dimensions), then d
    int32 sizes, then the data in C order (LeCun, Cortes & Burges, the MNIST page).
    """
    data = _read_bytes(path)
    magic = int.from_bytes(data[:4], "big")
    if len(data) < 4 or magic not in IDX_DIMS:
        raise UserError(
            f"{path}: IDX magic number is {magic}, expected 2051 (images) or 2049 (labels); "
            "not an MNIST-style IDX file"
        )
    header = 4 + 4 * IDX_DIMS[magic]
    if len(data) < header:
        raise UserError(f"{path}: IDX header is cut short ({len(data)} bytes); {REDOWNLOAD}")
    shape = struct.unpack(f">{IDX_DIMS[magic]}I", data[4:header])
    if len(data) - header != math.prod(shape):
        raise UserError(
            f"{path}: IDX header promises {shape} = {math.prod(shape)} bytes of data, "
            f"the file holds {len(data) - header}; {REDOWNLOAD}"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def read_amat(path: str | Path) -> np.ndarray:
    """A binarized-MNIST .amat file (gzipped or plain) as (N, 784) uint8 of 0/1.

    One image per line: 784 values `0`/`1` separated by single spaces (Larochelle & Murray
    2011). The exact layout is read in one vectorised pass; anything else goes line by line.
    """
    data = _read_bytes(path)
    chars = np.frombuffer(data, np.uint8)
    row_bytes = 2 * AMAT_PIXELS
    if chars.size and chars.size % row_bytes == 0:
        rows = chars.reshape(-1, row_bytes)  # (N, 1568): digit, space, digit, ..., digit, newline
        x = rows[:, 0::2] - np.uint8(ord("0"))  # (N, 784); any other byte wraps past 1
        if (x <= 1).all() and (rows[:, 1::2] == AMAT_SEPARATORS).all():
            return x
    return _parse_amat_lines(data, path)


def _parse_amat_lines(data: bytes, path: str | Path) -> np.ndarray:
    """The slow path of `read_amat`: any whitespace, blank lines allowed; names the first bad line."""
    rows = []
    for number, line in enumerate(data.splitlines(), start=1):
        values = line.split()
        if not values:
            continue
        joined = b"".join(values)
        if len(values) != AMAT_PIXELS:
            raise UserError(f"{path}: line {number} has {len(values)} values, expected {AMAT_PIXELS}")
        if len(joined) != AMAT_PIXELS or joined.strip(b"01"):
            raise UserError(f"{path}: line {number} holds a value other than 0 or 1")
        rows.append(joined)
    if not rows:
        raise UserError(f"{path}: no images in this .amat file; {REDOWNLOAD}")
    return (np.frombuffer(b"".join(rows), np.uint8) - np.uint8(ord("0"))).reshape(-1, AMAT_PIXELS)


def read_frey(path: str | Path) -> np.ndarray:
    """frey_rawface.mat as (N, 28, 20) uint8, N = 1965: variable `ff` (560, N), one frame
    per column, each a 28x20 image stored row-major (Roweis' data page; Kingma & Welling 2014).
    """
    ff = _load_mat(path, "ff")["ff"]
    if ff.ndim != 2 or ff.shape[0] != 28 * 20:
        raise UserError(
            f"{path}: variable 'ff' has shape {ff.shape}, expected (560, N): one 28x20 frame per column"
        )
    return np.ascontiguousarray(ff.T).reshape(-1, 28, 20)


def read_olivetti(path: str | Path) -> np.ndarray:
    """olivettifaces.mat as (N, 64, 64) uint8 upright faces, N = 400: variable `faces`
    (4096, N), one face per column stored column-major as MATLAB does (Roweis' data page).
    """
    faces = _load_mat(path, "faces")["faces"]
    if faces.ndim != 2 or faces.shape[0] != 64 * 64:
        raise UserError(
            f"{path}: variable 'faces' has shape {faces.shape}, expected (4096, N): one 64x64 face per column"
        )
    return np.ascontiguousarray(faces.T.reshape(-1, 64, 64).transpose(0, 2, 1))


def read_svhn(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """An SVHN cropped-digits file (train_32x32.mat, test_32x32.mat) as images (N, 3, 32, 32)
    uint8 and labels (N,) int64 in 0..9. The file holds X (32, 32, 3, N) and y (N, 1) in
    1..10, where 10 means the digit 0 (Netzer et al. 2011, format 2).
    """
    mat = _load_mat(path, "X", "y")
    x, y = mat["X"], mat["y"].reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != y.size:
        raise UserError(
            f"{path}: X has shape {x.shape} and y {mat['y'].shape}, expected (32, 32, 3, N) and (N, 1)"
        )
    if y.size and (y.min() < 1 or y.max() > 10):
        raise UserError(f"{path}: labels y range over {y.min()}..{y.max()}, expected 1..10 (10 = digit 0)")
    labels = y.astype(np.int64)
    labels[labels == 10] = 0
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), labels


def _read_bytes(path: str | Path) -> bytes:
    """The file's bytes, decompressed when they start with the gzip magic number."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise UserError(f"{path}: cannot read the file: {error.strerror}") from error
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise UserError(f"{path}: corrupt or truncated gzip data ({error}); {REDOWNLOAD}") from error


def _load_mat(path: str | Path, *names: str) -> dict[str, np.ndarray]:
    """The named variables of a MATLAB (v4-v7.2) file; each must hold whole numbers in 0..255,
    returned as uint8 (labels included).
    """
    try:
        mat = scipy.io.loadmat(path, variable_names=names)
    except FileNotFoundError as error:
        raise UserError(f"{path}: no such file") from error
    except Exception as error:  # loadmat raises a zoo on bad bytes: ValueError, OSError, IndexError, ...
        raise UserError(f"{path}: not a readable MATLAB file ({error}); {REDOWNLOAD}") from error
    arrays = {}
    for name in names:
        if name not in mat:
            raise UserError(f"{path}: no variable {name!r} in this MATLAB file; {REDOWNLOAD}")
        arrays[name] = _as_uint8(mat[name], path, name)
    return arrays


def _as_uint8(array: np.ndarray, path: str | Path, name: str) -> np.ndarray:
    """`array` as uint8, provided it is numeric and holds only whole numbers in 0..255."""
    if array.dtype == np.uint8:
        return array
    numeric = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    if not numeric or (array.size and (array.min() < 0 or array.max() > 255 or (array % 1 != 0).any())):
        raise UserError(
            f"{path}: variable {name!r} ({array.dtype}) is not pixel data: whole numbers 0..255 expected"
        )
    return array.astype(np.uint8)
