"""The data layer: data root, locate/download/verify, format readers, loaders, CS236 subsets.

Downloads are tested against an HTTP server on 127.0.0.1 only; a guard fails any test that
tries to resolve another host. Real-data tests run when MNIST is on the machine.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

import latentlab.data as data
from latentlab.data import sources
from latentlab.data.cache import cache_dir
from latentlab.data.sources import SOURCES, Source, locate
from latentlab.errors import UserError
from localhost import only_localhost, server  # noqa: F401  (the network guard and the local server)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's bytes: magic 2049 (1-D) or 2051 (3-D), sizes, uint8 data."""
    magic = {1: 2049, 3: 2051}[array.ndim]
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def tiny_source(file_name: str, content: bytes) -> Source:
    """A one-file dataset in folder `tiny` whose accepted sha256 is that of `content`."""
    return Source(folder="tiny", files={file_name: (hashlib.sha256(content).hexdigest(),)})


LABELS = np.array([3, 1, 4, 1, 5, 9, 2, 6], np.uint8)
LABELS_GZ = gzip.compress(idx_bytes(LABELS), mtime=0)


# --- data root ----------------------------------------------------------------------------


def test_data_root_prefers_flag_then_env_then_default(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENTLAB_DATA", str(tmp_path / "env"))
    assert data.data_root(tmp_path / "flag") == tmp_path / "flag"
    assert data.data_root(str(tmp_path / "flag")) == tmp_path / "flag"
    assert data.data_root() == tmp_path / "env"
    monkeypatch.setenv("LATENTLAB_DATA", "")
    assert data.data_root() == Path("data")
    monkeypatch.delenv("LATENTLAB_DATA")
    assert data.data_root(None) == Path("data")


# --- locate: download and verification ----------------------------------------------------


def test_download_is_verified_and_renamed_into_place(monkeypatch, tmp_path, server):
    served, base_url = server
    (served / "tiny-labels-idx1-ubyte.gz").write_bytes(LABELS_GZ)
    monkeypatch.setitem(SOURCES, "tiny", tiny_source("tiny-labels-idx1-ubyte.gz", LABELS_GZ))
    final = tmp_path / "root" / "tiny" / "tiny-labels-idx1-ubyte.gz"
    renames = []
    replace = os.replace

    def recording_replace(src, dst):
        renames.append((Path(src), Path(dst), Path(dst).exists()))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    folder = locate("tiny", tmp_path / "root", base_url=base_url)
    assert folder == final.parent and final.read_bytes() == LABELS_GZ
    src, dst, existed = next(r for r in renames if r[1] == final)
    assert src.parent == folder and src.name.endswith(".part") and not existed  # temp, then rename
    assert sorted(p.name for p in folder.iterdir()) == [final.name]  # no temp left, no stamp in the data folder
    assert list((cache_dir() / "verified").glob(f"tiny-*.json"))  # the stamp is kept in the cache
    np.testing.assert_array_equal(data.read_idx(final), LABELS)


def test_download_with_wrong_checksum_raises_and_leaves_nothing(monkeypatch, tmp_path, server):
    served, base_url = server
    (served / "tiny.gz").write_bytes(LABELS_GZ)
    monkeypatch.setitem(SOURCES, "tiny", tiny_source("tiny.gz", b"other bytes"))
    with pytest.raises(UserError, match="sha256") as error:
        locate("tiny", tmp_path, base_url=base_url)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "tiny").exists()


def test_interrupted_download_leaves_no_partial_file(monkeypatch, tmp_path, server):
    _, base_url = server
    monkeypatch.setitem(SOURCES, "tiny", tiny_source("short.gz", b"x"))
    with pytest.raises(UserError, match="missing short.gz"):
        locate("tiny", tmp_path, base_url=base_url)
    assert not (tmp_path / "tiny").exists()


def test_server_404_names_missing_files_folder_and_sources(tmp_path, server):
    _, base_url = server
    with pytest.raises(UserError) as error:
        locate("mnist", tmp_path, base_url=base_url)
    message = str(error.value)
    for file_name in SOURCES["mnist"].files:
        assert file_name in message
    assert str(tmp_path / "mnist") in message and "LATENTLAB_DATA" in message and base_url in message
    assert "404" in message and "\n" not in message
    assert not (tmp_path / "mnist").exists()


def test_missing_without_download_points_to_canonical_urls(tmp_path):
    with pytest.raises(UserError, match="download disabled") as error:
        locate("mnist", tmp_path, download=False)
    assert "ossci-datasets.s3.amazonaws.com/mnist" in str(error.value)
    with pytest.raises(UserError, match="larocheh"):
        locate("binarized_mnist", tmp_path, download=False)
    with pytest.raises(UserError, match="known: mnist"):
        locate("cifar", tmp_path, download=False)


def test_present_file_with_wrong_hash_names_it_and_both_hashes(monkeypatch, tmp_path):
    monkeypatch.setitem(SOURCES, "tiny", tiny_source("tiny.gz", LABELS_GZ))
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "tiny.gz").write_bytes(b"corrupt")
    with pytest.raises(UserError, match="delete it") as error:
        locate("tiny", tmp_path, download=False)
    message = str(error.value)
    assert str(tmp_path / "tiny" / "tiny.gz") in message
    assert hashlib.sha256(LABELS_GZ).hexdigest() in message
    assert hashlib.sha256(b"corrupt").hexdigest() in message


def test_stamp_skips_hashing_until_the_file_changes(monkeypatch, tmp_path):
    monkeypatch.setitem(SOURCES, "tiny", tiny_source("tiny.gz", LABELS_GZ))
    path = tmp_path / "tiny" / "tiny.gz"
    path.parent.mkdir()
    path.write_bytes(LABELS_GZ)
    locate("tiny", tmp_path, download=False)
    with monkeypatch.context() as m:
        m.setattr(sources.hashlib, "file_digest", lambda *a: pytest.fail("hashed despite the stamp"))
        locate("tiny", tmp_path, download=False)
    path.write_bytes(LABELS_GZ[:-1] + bytes([LABELS_GZ[-1] ^ 1]))  # same size, new content and mtime
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    with pytest.raises(UserError, match="sha256"):
        locate("tiny", tmp_path, download=False)


def test_read_only_folder_works_without_a_stamp(monkeypatch, tmp_path):
    monkeypatch.setitem(SOURCES, "tiny", tiny_source("tiny.gz", LABELS_GZ))
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "tiny.gz").write_bytes(LABELS_GZ)
    folder.chmod(0o555)
    try:
        assert locate("tiny", tmp_path) == folder
        assert locate("tiny", tmp_path) == folder
        assert [p.name for p in folder.iterdir()] == ["tiny.gz"]
    finally:
        folder.chmod(0o755)


# --- readers -------------------------------------------------------------------------------


def test_idx_round_trip_gzipped_and_plain(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    (tmp_path / "images.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "images").write_bytes(idx_bytes(images))
    for path in (tmp_path / "images.gz", tmp_path / "images"):
        read = data.read_idx(path)
        assert read.dtype == np.uint8 and read.flags.writeable
        np.testing.assert_array_equal(read, images)
    (tmp_path / "labels.gz").write_bytes(LABELS_GZ)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "labels.gz"), LABELS)


@pytest.mark.parametrize(
    "content, message",
    [
        (gzip.compress(struct.pack(">4I", 2052, 1, 2, 2) + bytes(4)), "magic number is 2052"),
        (LABELS_GZ[: len(LABELS_GZ) // 2], "truncated gzip"),
        (b"\x1f\x8b" + bytes(30), "gzip"),
        (gzip.compress(idx_bytes(LABELS)[:-1]), "promises"),
        (gzip.compress(idx_bytes(LABELS) + b"\0"), "promises"),
    ],
    ids=["wrong-magic", "truncated-gz", "bad-gz", "short-data", "long-data"],
)
def test_idx_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.gz"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as error:
        data.read_idx(path)
    assert str(path) in str(error.value)


def amat_text(rows: np.ndarray, newline: str = "\n") -> bytes:
    return "".join(" ".join(map(str, row)) + newline for row in rows).encode()


def test_amat_round_trip_fast_and_slow_layouts(tmp_path):
    rows = np.random.default_rng(0).integers(0, 2, (6, 784), dtype=np.uint8)
    (tmp_path / "a.amat.gz").write_bytes(gzip.compress(amat_text(rows)))
    (tmp_path / "a.amat").write_bytes(amat_text(rows, "\r\n") + b"\n")  # CRLF, blank last line
    for path in (tmp_path / "a.amat.gz", tmp_path / "a.amat"):
        read = data.read_amat(path)
        assert read.dtype == np.uint8 and read.shape == (6, 784)
        np.testing.assert_array_equal(read, rows)


def test_amat_names_the_bad_row(tmp_path):
    rows = np.zeros((3, 784), np.uint8)
    lines = amat_text(rows).splitlines(keepends=True)
    path = tmp_path / "bad.amat"
    path.write_bytes(lines[0] + lines[1][2:] + lines[2])  # line 2 has 783 values
    with pytest.raises(UserError, match="line 2 has 783 values"):
        data.read_amat(path)
    path.write_bytes(lines[0] + lines[1] + b"2" + lines[2][1:])
    with pytest.raises(UserError, match="line 3 holds a value other than 0 or 1"):
        data.read_amat(path)


def test_frey_reader(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (7, 28, 20), dtype=np.uint8)
    scipy.io.savemat(tmp_path / "frey.mat", {"ff": frames.reshape(7, 560).T})  # one frame per column
    np.testing.assert_array_equal(data.read_frey(tmp_path / "frey.mat"), frames)
    scipy.io.savemat(tmp_path / "wrong.mat", {"ff": np.zeros((28, 20), np.uint8)})
    with pytest.raises(UserError, match=r"expected \(560, N\)"):
        data.read_frey(tmp_path / "wrong.mat")
    scipy.io.savemat(tmp_path / "other.mat", {"faces": np.zeros((560, 1), np.uint8)})
    with pytest.raises(UserError, match="no variable 'ff'"):
        data.read_frey(tmp_path / "other.mat")


def test_olivetti_reader_turns_matlab_columns_upright(tmp_path):
    faces = np.random.default_rng(0).integers(0, 256, (3, 64, 64), dtype=np.uint8)
    columns = np.stack([face.flatten(order="F") for face in faces], axis=1)  # (4096, 3), MATLAB order
    scipy.io.savemat(tmp_path / "faces.mat", {"faces": columns.astype(np.float64)})
    read = data.read_olivetti(tmp_path / "faces.mat")
    assert read.dtype == np.uint8
    np.testing.assert_array_equal(read, faces)


def test_svhn_reader_maps_label_10_to_0(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    x = images.transpose(2, 3, 1, 0)  # (32, 32, 3, N) as in the SVHN files
    scipy.io.savemat(tmp_path / "svhn.mat", {"X": x, "y": np.array([[10], [1], [5], [10]], np.uint8)})
    read_images, labels = data.read_svhn(tmp_path / "svhn.mat")
    np.testing.assert_array_equal(read_images, images)
    assert labels.dtype == np.int64 and labels.tolist() == [0, 1, 5, 0]
    scipy.io.savemat(tmp_path / "bad.mat", {"X": x, "y": np.array([[11], [1], [5], [10]], np.uint8)})
    with pytest.raises(UserError, match="expected 1..10"):
        data.read_svhn(tmp_path / "bad.mat")


def test_corrupt_mat_file_is_a_user_error(tmp_path):
    scipy.io.savemat(tmp_path / "frey.mat", {"ff": np.zeros((560, 3), np.uint8)})
    path = tmp_path / "cut.mat"
    path.write_bytes((tmp_path / "frey.mat").read_bytes()[:300])
    with pytest.raises(UserError, match="not a readable MATLAB file"):
        data.read_frey(path)


# --- loaders on small files ---------------------------------------------------------------


def test_load_frey_and_svhn_from_small_files(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (25, 28, 20), dtype=np.uint8)
    (tmp_path / "frey_faces").mkdir()
    scipy.io.savemat(tmp_path / "frey_faces" / "frey_rawface.mat", {"ff": frames.reshape(25, 560).T})
    frey = data.load_images("frey_faces", tmp_path, download=False)
    assert frey.train_x.shape == (22, 1, 28, 20)  # disjoint: the first 90 %
    assert frey.test_x.shape == (3, 1, 28, 20)  # the last 10 %, rounded up
    assert frey.train_x.dtype == torch.float32 and frey.train_y is None
    torch.testing.assert_close(frey.test_x[-1], torch.from_numpy(frames[-1] / 255).float()[None])
    (tmp_path / "svhn").mkdir()
    x = np.full((32, 32, 3, 2), 255, np.uint8)
    for split in ("train", "test"):
        scipy.io.savemat(tmp_path / "svhn" / f"{split}_32x32.mat", {"X": x, "y": [[10], [3]]})
    svhn = data.load_images("svhn", tmp_path, download=False)
    assert svhn.train_x.shape == (2, 3, 32, 32) and float(svhn.train_x.min()) == 1.0
    assert svhn.test_y.tolist() == [0, 3] and svhn.name == "svhn"
    with pytest.raises(UserError, match="known: mnist"):
        data.load_images("cifar10", tmp_path)


# --- real data (skipped when MNIST is not on this machine) ------------------------------


def test_mnist_shapes_and_label_counts(data_root):
    mnist = data.load_images("mnist", data_root, download=False)
    assert mnist.train_x.shape == (60000, 1, 28, 28) and mnist.test_x.shape == (10000, 1, 28, 28)
    assert mnist.train_x.dtype == torch.float32 and mnist.train_y.dtype == torch.int64
    assert float(mnist.train_x.min()) == 0.0 and float(mnist.train_x.max()) == 1.0
    assert torch.bincount(mnist.train_y).tolist() == MNIST_TRAIN_COUNTS
    assert torch.bincount(mnist.test_y).tolist() == MNIST_TEST_COUNTS


@pytest.mark.parametrize(
    "name, train_shape, test_shape",
    [
        ("fashion_mnist", (60000, 1, 28, 28), (10000, 1, 28, 28)),
        ("binarized_mnist", (50000, 1, 28, 28), (10000, 1, 28, 28)),
        ("frey_faces", (1768, 1, 28, 20), (197, 1, 28, 20)),
        ("olivetti_faces", (320, 1, 64, 64), (80, 1, 64, 64)),
    ],
)
def test_other_real_datasets_load(data_root, name, train_shape, test_shape):
    if not (data_root / SOURCES[name].folder).is_dir():
        pytest.skip(f"{name} is not on this machine")
    images = data.load_images(name, data_root, download=False)
    assert images.train_x.shape == train_shape and images.test_x.shape == test_shape
    assert 0.0 <= float(images.train_x.min()) and float(images.train_x.max()) <= 1.0
    if name == "binarized_mnist":
        assert ((images.train_x == 0) | (images.train_x == 1)).all()
        assert data.load_binarized_mnist_valid(data_root, download=False).shape == (10000, 1, 28, 28)
    if name == "olivetti_faces":
        assert torch.bincount(images.train_y).tolist() == [8] * 40


def test_cs236_test_subset(data_root):
    mnist = data.load_images("mnist", data_root, download=False)
    table = json.loads((Path(data.__file__).parent / "cs236_mnist_subsets.json").read_text())
    labels = mnist.test_y.numpy()
    index = np.concatenate([np.flatnonzero(labels == d)[rows] for d, rows in enumerate(table["test"])])
    assert labels[index].tolist() == [d for d in range(10) for _ in range(10)]

    np.random.seed(123)
    before = np.random.get_state()
    subset = data.cs236_test_subset(mnist.test_x, mnist.test_y)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]

    assert subset.shape == (100, 1, 28, 28) and subset.dtype == torch.float32
    assert set(subset.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(subset, data.cs236_test_subset(mnist.test_x, mnist.test_y))
    # The JSON's rule through the equivalent legacy RandomState(0): same draws, element for element.
    p = mnist.test_x[index].reshape(100, 784).numpy()
    expected = np.random.RandomState(0).binomial(1, p).astype(np.float32).reshape(100, 1, 28, 28)
    np.testing.assert_array_equal(subset.numpy(), expected)
    # Another seed: another draw of the same grey images (the binarization-sensitivity bench).
    other = data.cs236_test_subset(mnist.test_x, mnist.test_y, seed=1)
    np.testing.assert_array_equal(other.numpy().reshape(100, 784), np.random.RandomState(1).binomial(1, p))
    assert torch.equal(data.cs236_test_pixels(mnist.test_x, mnist.test_y).reshape(100, 784), torch.from_numpy(p))

    description = data.cs236_subset_description()
    json.dumps(description)
    assert description["sha256"] == hashlib.sha256(
        (Path(data.__file__).parent / "cs236_mnist_subsets.json").read_bytes()
    ).hexdigest()


def test_cs236_label_subset(data_root):
    mnist = data.load_images("mnist", data_root, download=False)
    x, y = data.cs236_label_subset(mnist.train_x, mnist.train_y)
    assert x.shape == (100, 1, 28, 28) and y.dtype == torch.int64
    assert y.tolist() == [d for d in range(10) for _ in range(10)]
    assert ((x > 0) & (x < 1)).any()  # grey, not binarized
