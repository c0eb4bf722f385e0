"""The user's own data: image folders, array files, the decode cache, augmentation, apple2orange.

Every image here is written by the test with Pillow; the apple2orange download is tested
against an HTTP server on 127.0.0.1 serving a small zip, and a guard fails any other host.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.config import DataConfig
from latentlab.data import folder as folder_mod
from latentlab.data.archives import ARCHIVES, Archive, locate_archive, tree_sha256
from latentlab.data.augment import RandomCropFlip
from latentlab.data.batcher import Batcher
from latentlab.data.folder import read_folder
from latentlab.data.own import load_own
from latentlab.errors import UserError
from localhost import only_localhost, server  # noqa: F401  (the network guard and the local server)


def write_image(path: Path, pixels: np.ndarray, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def rgb(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def snapshot(folder: Path) -> dict:
    """Every path under `folder` with its size and mtime: what "nothing was written" compares."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


# --- image folders ----------------------------------------------------------------------------


def test_resize_then_centre_crop_keeps_the_middle(tmp_path):
    pixels = rgb(4, 8, 0)  # 4 high, 8 wide: covering 4x4 needs no resize, the crop keeps columns 2..5
    write_image(tmp_path / "imgs" / "a.png", pixels)
    images = read_folder(tmp_path / "imgs", channels=3, size=(4, 4))
    assert images.x.dtype == torch.uint8 and images.x.shape == (1, 3, 4, 4) and images.y is None
    np.testing.assert_array_equal(images.x[0].permute(1, 2, 0).numpy(), pixels[:, 2:6])


def test_grey_colour_and_auto_channels(tmp_path):
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    write_image(tmp_path / "grey" / "a.png", grey)
    write_image(tmp_path / "grey" / "b.bmp", grey[::-1].copy())
    auto = read_folder(tmp_path / "grey")
    assert auto.x.shape == (2, 1, 8, 8)  # every image grey: one channel
    np.testing.assert_array_equal(auto.x[0, 0].numpy(), grey)
    colour = read_folder(tmp_path / "grey", channels=3)
    assert colour.x.shape == (2, 3, 8, 8) and (colour.x[:, 0] == colour.x[:, 2]).all()
    write_image(tmp_path / "mixed" / "a.png", grey)
    write_image(tmp_path / "mixed" / "b.png", rgb(8, 8, 1))
    assert read_folder(tmp_path / "mixed").x.shape == (2, 3, 8, 8)
    assert read_folder(tmp_path / "mixed", channels=1).x.shape == (2, 1, 8, 8)


def test_class_subfolders_give_labels_and_names(tmp_path):
    for name, count in (("cat", 2), ("ant", 3)):
        for i in range(count):
            write_image(tmp_path / "imgs" / name / f"{i}.png", rgb(6, 6, i))
    images = read_folder(tmp_path / "imgs")
    assert images.classes == ("ant", "cat")  # sorted names, label = index
    assert images.y.tolist() == [0, 0, 0, 1, 1]


def test_train_and_test_subfolders_are_the_splits(tmp_path):
    for split, n in (("train", 4), ("test", 2)):
        for c in ("a", "b"):
            for i in range(n):
                write_image(tmp_path / "d" / split / c / f"{i}.png", rgb(10, 12, i))
    cfg = DataConfig(name="folder", path=str(tmp_path / "d"), image_size=(8, 8), binarize="none")
    data = load_own(cfg, tmp_path)
    assert data.train_x.shape == (8, 3, 8, 8) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (4, 3, 8, 8) and data.test_x.dtype == torch.float32 and data.test_x.max() <= 1
    assert data.classes == ("a", "b") and data.test_y.tolist() == [0, 0, 1, 1]


def test_held_out_fraction_is_seeded_and_disjoint(tmp_path):
    for i in range(10):
        write_image(tmp_path / "d" / f"{i:02d}.png", np.full((4, 4), 20 * i, np.uint8))
    cfg = DataConfig(name="folder", path=str(tmp_path / "d"), test_fraction=0.3, binarize="none")
    a, b = load_own(cfg, tmp_path), load_own(cfg, tmp_path)
    values = lambda x: sorted(round(float(v) * 255) if x.dtype == torch.float32 else int(v) for v in x[:, 0, 0, 0])
    assert len(a.train_x) == 7 and len(a.test_x) == 3
    assert values(a.test_x) == values(b.test_x)  # the same seed, the same split
    assert set(values(a.train_x)).isdisjoint(values(a.test_x))
    other = load_own(replace(cfg, seed=1), tmp_path)
    assert values(other.test_x) != values(a.test_x)


def test_random_crop_and_flip_are_seeded_resumable_windows():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.uint8).view(2, 3, 6, 6)
    aug = RandomCropFlip(4, flip=True, seed=0)
    first = aug(x)
    assert first.shape == (2, 3, 4, 4) and first.dtype == torch.uint8
    for b in range(2):  # each output is a window of its own image, flipped or not
        windows = [x[b, :, i:i + 4, j:j + 4] for i in range(3) for j in range(3)]
        assert any(torch.equal(first[b], w) or torch.equal(first[b], w.flip(-1)) for w in windows)
    state = aug.state_dict()
    second = aug(x)
    aug.load_state_dict(state)
    assert torch.equal(aug(x), second)  # the state round-trips: a resumed run draws the same crops
    assert torch.equal(RandomCropFlip(4, True, seed=0)(x), first)


def test_batcher_makes_uint8_float_per_batch_and_resumes_with_augmentation():
    x = torch.randint(0, 256, (10, 3, 6, 6), dtype=torch.uint8)
    make = lambda: Batcher({"x": x}, 4, seed=0, augment=RandomCropFlip(4, True, seed=3))
    batcher = make()
    first = batcher.next()["x"]
    assert first.dtype == torch.float32 and first.shape == (4, 3, 4, 4) and first.max() <= 1
    assert torch.equal((first * 255).round().to(torch.uint8).float() / 255, first)  # exactly pixel / 255
    state = batcher.state_dict()
    expected = [batcher.next()["x"] for _ in range(4)]
    resumed = make()
    resumed.load_state_dict(state)
    assert all(torch.equal(resumed.next()["x"], e) for e in expected)


# --- the decode cache -------------------------------------------------------------------------


def test_the_cache_skips_decoding_until_a_file_changes(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    for i in range(3):
        write_image(folder / f"{i}.jpg", rgb(12, 16, i), "JPEG")
    before = snapshot(folder)
    first = read_folder(folder, size=(8, 8))
    with monkeypatch.context() as m:
        m.setattr(folder_mod, "decode", lambda *a: pytest.fail("decoded again despite the cache"))
        assert torch.equal(read_folder(folder, size=(8, 8)).x, first.x)
    assert snapshot(folder) == before  # nothing written into the user's folder
    write_image(folder / "1.jpg", np.zeros((12, 16, 3), np.uint8), "JPEG")  # a changed file
    changed = read_folder(folder, size=(8, 8))
    assert changed.x[1].max() < 10 and torch.equal(changed.x[0], first.x[0])
    write_image(folder / "3.jpg", rgb(12, 16, 3), "JPEG")  # an added file
    assert len(read_folder(folder, size=(8, 8)).x) == 4
    assert len(read_folder(folder, size=(4, 4)).x[0, 0]) == 4  # other settings, another entry


def test_the_cache_lives_in_latentlab_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path / "cache"))
    write_image(tmp_path / "imgs" / "a.png", rgb(4, 4, 0))
    read_folder(tmp_path / "imgs")
    assert len(list((tmp_path / "cache" / "images").glob("*.safetensors"))) == 1


# --- array files ------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["nhw", "nhwc", "nchw"])
def test_array_image_layouts(tmp_path, layout):
    pixels = np.random.default_rng(0).integers(0, 256, (10, 1 if layout == "nhw" else 3, 5, 6), dtype=np.uint8)
    stored = {"nhw": pixels[:, 0], "nhwc": pixels.transpose(0, 2, 3, 1), "nchw": pixels}[layout]
    np.save(tmp_path / "x.npy", stored)
    data = load_own(DataConfig(name="array", path=str(tmp_path / "x.npy"), binarize="none", test_fraction=0.2), tmp_path)
    assert data.train_x.dtype == torch.uint8 and data.train_x.shape == (8, pixels.shape[1], 5, 6)
    everything = torch.cat([data.train_x.float() / 255, data.test_x])
    assert sorted(everything.flatten().tolist()) == sorted((torch.from_numpy(pixels).float() / 255).flatten().tolist())


def test_array_floats_in_0_1_and_0_255(tmp_path):
    x = np.random.default_rng(0).random((6, 4, 4)).astype(np.float64)
    np.savez(tmp_path / "unit.npz", x=x, x_test=x[:2])
    unit = load_own(DataConfig(name="array", path=str(tmp_path / "unit.npz"), binarize="none"), tmp_path)
    assert unit.train_x.dtype == torch.float32 and torch.allclose(unit.train_x[:, 0], torch.from_numpy(x).float())
    np.savez(tmp_path / "bytes.npz", x=np.round(x * 255), x_test=np.round(x[:2] * 255))
    as_bytes = load_own(DataConfig(name="array", path=str(tmp_path / "bytes.npz"), binarize="none"), tmp_path)
    assert as_bytes.train_x.dtype == torch.uint8


def test_array_table_is_standardised_with_train_statistics(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal([10.0, -3.0, 5.0], [2.0, 0.5, 0.0], (50, 3))
    y = rng.choice([3, 7], 50)
    np.savez(tmp_path / "t.npz", x=x, y=y)
    data = load_own(DataConfig(name="array", path=str(tmp_path / "t.npz"), binarize="none", test_fraction=0.2), tmp_path)
    assert data.train_x.shape == (40, 3) and data.test_x.shape == (10, 3)
    torch.testing.assert_close(data.train_x.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.train_x[:, :2].std(0, unbiased=False), torch.ones(2), atol=1e-5, rtol=0)
    assert data.feature_std[2] == 1  # a constant feature keeps std 1
    raw = torch.cat([data.train_x, data.test_x]) * data.feature_std + data.feature_mean  # undone: the file's rows
    torch.testing.assert_close(raw[:, 0].sort().values.double(), torch.from_numpy(np.sort(x[:, 0])), atol=1e-4, rtol=0)
    assert data.classes == ("3", "7") and set(data.train_y.tolist()) <= {0, 1}
    plain = load_own(DataConfig(name="array", path=str(tmp_path / "t.npz"), binarize="none", test_fraction=0.2,
                                standardize=False), tmp_path)
    assert plain.train_x.mean() > 1  # unstandardised: the raw values


# --- apple2orange: download, verification -------------------------------------------------------


def fixture_zip(served: Path, name: str = "apple2orange") -> tuple[bytes, dict[str, int], str]:
    """A tiny <name>.zip (a top folder <name>/, two JPEGs per split) and its counts and tree hash."""
    unpacked = served.parent / "fixture" / name
    for sub in ("trainA", "trainB", "testA", "testB"):
        for i in range(2):
            write_image(unpacked / sub / f"{sub}_{i}.jpg", rgb(16, 16, hash(sub) % 100 + i), "JPEG")
    files = sorted((p for p in unpacked.rglob("*") if p.is_file()), key=lambda p: p.relative_to(unpacked).as_posix())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for p in files:
            zf.write(p, f"{name}/{p.relative_to(unpacked).as_posix()}")
    return buffer.getvalue(), {s: 2 for s in ("trainA", "trainB", "testA", "testB")}, tree_sha256(unpacked, files)


def test_apple2orange_downloads_verifies_and_loads_two_domains(tmp_path, server, monkeypatch):
    served, base_url = server
    archive, counts, tree = fixture_zip(served)
    (served / "apple2orange.zip").write_bytes(archive)
    monkeypatch.setitem(ARCHIVES, "apple2orange", replace(ARCHIVES["apple2orange"], counts=counts, tree_sha256=tree))
    root = tmp_path / "root"
    folder = locate_archive("apple2orange", root, base_url=base_url)
    assert folder == root / "apple2orange" and sorted(p.name for p in root.iterdir()) == ["apple2orange"]
    assert sorted(p.name for p in folder.iterdir()) == ["testA", "testB", "trainA", "trainB"]  # no stamp, no temp
    data = load_own(DataConfig(name="apple2orange", image_size=(8, 8), binarize="none"), root)
    assert data.train_x.shape == data.test_x.shape == (4, 3, 8, 8)  # trainA + trainB, testA + testB
    assert data.train_y.tolist() == data.test_y.tolist() == [0, 0, 1, 1]  # domain X (A) 0, Y (B) 1
    x_X, x_Y = data.train_x[data.train_y == 0], data.train_x[data.train_y == 1]  # what unpaired training takes
    assert not torch.equal(x_X, x_Y)


def test_apple2orange_with_a_wrong_tree_hash_leaves_nothing(tmp_path, server, monkeypatch):
    served, base_url = server
    archive, counts, _ = fixture_zip(served)
    (served / "apple2orange.zip").write_bytes(archive)
    monkeypatch.setitem(ARCHIVES, "apple2orange", replace(ARCHIVES["apple2orange"], counts=counts, tree_sha256="0" * 64))
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UserError, match="tree sha256") as error:
        locate_archive("apple2orange", root, base_url=base_url)
    assert "\n" not in str(error.value) and list(root.iterdir()) == []


def test_apple2orange_missing_without_download_names_the_url(tmp_path):
    with pytest.raises(UserError, match="efrosgans.eecs.berkeley.edu/cyclegan/datasets/apple2orange.zip"):
        locate_archive("apple2orange", tmp_path, download=False)


# --- the other CycleGAN releases: no published checksum, so the first copy seen is recorded ----------


def test_every_cyclegan_release_is_a_data_name_with_its_zip_url(tmp_path):
    from latentlab.config import CYCLEGAN_RELEASES
    from latentlab.registry import build_config

    assert set(ARCHIVES) == set(CYCLEGAN_RELEASES) and {"horse2zebra", "monet2photo", "maps"} <= set(ARCHIVES)
    for name, archive in ARCHIVES.items():
        assert archive.file_name == f"{name}.zip" and archive.folder == name
        assert archive.urls[0] == "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/"
        build_config({"model": {"name": "cyclegan"}, "data": {"name": name, "binarize": "none"},
                      "eval": {"protocol": "translation"}})  # accepted
    with pytest.raises(UserError, match="efrosgans.eecs.berkeley.edu/cyclegan/datasets/vangogh2photo.zip"):
        locate_archive("vangogh2photo", tmp_path, download=False)
    assert list(tmp_path.iterdir()) == []


def test_a_release_downloads_records_its_tree_on_first_sight_and_refuses_a_change(tmp_path, server, capsys):
    served, base_url = server
    archive, _, tree = fixture_zip(served, "horse2zebra")
    (served / "horse2zebra.zip").write_bytes(archive)
    root = tmp_path / "root"
    folder = locate_archive("horse2zebra", root, base_url=base_url)
    assert sorted(p.name for p in root.iterdir()) == ["horse2zebra"]
    assert sorted(p.name for p in folder.iterdir()) == ["testA", "testB", "trainA", "trainB"]
    err = capsys.readouterr().err
    assert "dataset horse2zebra: no checksum of this release is published" in err and tree in err
    assert err.count("\n") == 1
    data = load_own(DataConfig(name="horse2zebra", image_size=(8, 8), binarize="none"), root, download=False)
    assert data.classes == ("horse", "zebra") and data.train_y.tolist() == [0, 0, 1, 1]
    assert capsys.readouterr().err == ""  # checked against the recorded tree, silently
    write_image(folder / "testB" / "testB_0.jpg", rgb(16, 16, 99), "JPEG")  # another image under the same name
    with pytest.raises(UserError, match=f"but was {tree} when latentlab first read this folder") as error:
        locate_archive("horse2zebra", root, download=False)
    assert "\n" not in str(error.value)
    shutil.rmtree(folder)  # as the message says: delete it and run again; a fresh download is recorded anew
    assert locate_archive("horse2zebra", root, base_url=base_url) == folder
    assert f"{tree}, is recorded" in capsys.readouterr().err


def test_a_release_whose_zip_fails_its_crc_leaves_nothing(tmp_path, server):
    served, base_url = server
    archive = bytearray(fixture_zip(served, "monet2photo")[0])
    member = zipfile.ZipFile(io.BytesIO(bytes(archive))).infolist()[0]
    archive[member.header_offset + 30 + len(member.filename.encode()) + 50] ^= 0xFF  # a byte of its stored data
    (served / "monet2photo.zip").write_bytes(bytes(archive))
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UserError, match="monet2photo.zip: not a readable zip archive .*CRC"):
        locate_archive("monet2photo", root, base_url=base_url)
    assert list(root.iterdir()) == []


@pytest.mark.skipif(not (Path(os.environ.get("LATENTLAB_DATA", "/nonexistent")) / "apple2orange").is_dir(),
                    reason="apple2orange is not on this machine")
def test_the_real_apple2orange_verifies():
    folder = locate_archive("apple2orange", Path(os.environ["LATENTLAB_DATA"]), download=False)
    assert len(list((folder / "trainA").glob("*.jpg"))) == 995
