"""Unpaired batches: two independent seeded streams with crop and flip, and an exact CycleGAN resume."""

import json

import pytest
import torch

from latentlab.config import TrainConfig
from latentlab.data.augment import RandomCropFlip
from latentlab.data.unpaired import UnpairedBatcher
from latentlab.errors import UserError
from latentlab.models.cyclegan import CycleGAN, CycleGANConfig
from latentlab.run import Run
from latentlab.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def domains(n_X=7, n_Y=5, size=36):
    g = torch.Generator().manual_seed(1)
    return (torch.randint(0, 256, (n_X, 3, size, size), generator=g, dtype=torch.uint8),
            torch.randint(0, 256, (n_Y, 3, size, size), generator=g, dtype=torch.uint8))


def test_crop_and_flip_take_a_window_of_each_image_and_mirror_about_half():
    x = torch.arange(2000 * 1 * 5 * 6, dtype=torch.float32).view(2000, 1, 5, 6)
    out = RandomCropFlip(3, True, seed=0)(x)
    assert out.shape == (2000, 1, 3, 3)
    mirrored = 0
    for i in range(0, 2000, 97):  # every cropped image is a window of its own image, mirrored or not
        windows = x[i, 0].unfold(0, 3, 1).unfold(1, 3, 1).reshape(-1, 3, 3)  # (positions, 3, 3)
        plain = (windows == out[i, 0]).all((1, 2)).any()
        flipped = (windows.flip(-1) == out[i, 0]).all((1, 2)).any()
        assert plain or flipped
    # rows of a crop increase left to right unless mirrored: the mirrored share is ~ Binomial(2000, ½)
    mirrored = int((out[:, 0, 0, 0] > out[:, 0, 0, 1]).sum())
    assert abs(mirrored - 1000) < 5 * 22.4, mirrored
    # every offset occurs: rows 0..2, columns 0..3 of the top-left corner
    corner = x[:, 0].flatten(1)
    first = torch.minimum(out[:, 0, 0, 0], out[:, 0, 0, 2]) - corner[:, 0]  # top-left value minus the image's
    assert set((first // 6).long().tolist()) == {0, 1, 2} and set((first % 6).long().tolist()) == {0, 1, 2, 3}


def test_crop_under_data_parallelism_equals_the_global_batch():
    x = torch.rand(8, 3, 10, 10)
    whole = RandomCropFlip(6, True, seed=4)(x)
    shares = [RandomCropFlip(6, True, seed=4)(x[4 * r: 4 * r + 4], r, 2) for r in range(2)]
    assert torch.equal(torch.cat(shares), whole)


def test_the_two_streams_are_independent_epochs_of_their_own_domain():
    x_X, x_Y = domains()
    b = UnpairedBatcher(x_X.float(), x_Y.float(), 1, seed=0)
    steps = [b.next() for _ in range(35)]
    index = lambda images, x: [int((images == x[0]).flatten(1).all(1).nonzero()) for x in x]  # noqa: E731
    seen_X = index(x_X.float(), [s["x"] for s in steps])
    seen_Y = index(x_Y.float(), [s["x_b"] for s in steps])
    for e in range(5):  # every 7 steps an epoch of X: each image once
        assert sorted(seen_X[7 * e: 7 * e + 7]) == list(range(7))
    for e in range(7):  # every 5 steps an epoch of Y
        assert sorted(seen_Y[5 * e: 5 * e + 5]) == list(range(5))
    pairs = set(zip(seen_X, seen_Y))
    assert len(pairs) > 20  # of 35 possible (x, y) pairs: the streams are not locked together
    batch = UnpairedBatcher(x_X, x_Y, 2, seed=0, crop=32, flip=True).next()
    assert batch["x"].dtype == torch.float32 and batch["x"].shape == (2, 3, 32, 32) and batch["x"].max() <= 1


def test_the_domains_are_the_two_labelled_halves_and_need_both():
    from latentlab.data.datasets import ImageData
    from latentlab.data.handoff import Data
    from latentlab.registry import build_config as build

    x = torch.rand(4, 3, 4, 4)
    config = build({"model": {"name": "cyclegan"}, "data": {"binarize": "none"}, "eval": {"protocol": "none"}})
    a, b = Data.of(ImageData(x, torch.tensor([0, 1, 1, 0]), x, torch.tensor([1, 0, 0, 1]), name="t"), config).domains("train")
    assert torch.equal(a, x[[0, 3]]) and torch.equal(b, x[[1, 2]])
    with pytest.raises(UserError, match="two domains"):
        Data.of(ImageData(x, None, x, None, name="t"), config).domains("train")


def make_trainer(run_dir, iterations=6):
    torch.manual_seed(0)
    model = CycleGAN(CycleGANConfig(ngf=4, n_blocks=1, ndf=4, n_layers=2, pool_size=4), (3, 16, 16))
    x_X, x_Y = domains(size=20)
    batcher = UnpairedBatcher(x_X, x_Y, 2, seed=0, crop=16, flip=True)
    cfg = TrainConfig(iterations=iterations, lr=2e-4, betas=(0.5, 0.999), lr_decay_start=0.5,
                      log_every=3, checkpoint_every=3)
    return Trainer(model, batcher, cfg, Run(run_dir), quiet=True)


def test_cyclegan_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    whole = make_trainer(tmp_path / "a")
    whole.fit()
    crashed = make_trainer(tmp_path / "b")
    crashed.fit()
    for late in (tmp_path / "b" / "checkpoints").glob("step-00000006.*"):
        late.unlink()  # as if the process had died after step 3, with the pools partly full
    torch.manual_seed(123)  # a different process state: resume must not depend on it
    second = make_trainer(tmp_path / "b")
    assert second.resume() and second.step == 3
    assert int(second.model.pool_Y.count) == 4  # full: the later draws need its restored generator
    second.fit()
    for (name, p), q in zip(whole.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(p, q), name  # parameters, both pools and their generators' states
    assert whole.batcher.next()["x_b"].equal(second.batcher.next()["x_b"])  # both streams where they were
    assert whole.batcher.next()["x"].equal(second.batcher.next()["x"])
    metrics = lambda run: [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    drop_time = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]  # noqa: E731
    assert drop_time(metrics(tmp_path / "a")) == drop_time(metrics(tmp_path / "b"))


@pytest.mark.parametrize("precision, channels_last", [("bf16", False), ("bf16", True)])
def test_cyclegan_trains_under_bf16_autocast_and_channels_last(precision, channels_last):
    torch.manual_seed(0)
    model = CycleGAN(CycleGANConfig(ngf=4, n_blocks=1, ndf=4, n_layers=2, pool_size=2), (3, 16, 16))
    x_X, x_Y = domains(size=20)
    cfg = TrainConfig(iterations=2, precision=precision, channels_last=channels_last, checkpoint_every=10)
    trainer = Trainer(model, UnpairedBatcher(x_X, x_Y, 2, seed=0, crop=16, flip=True), cfg, None, quiet=True)
    trainer.fit()
    assert all(torch.isfinite(p).all() for p in model.parameters()) and int(model.pool_Y.count) == 2
    assert model.pool_Y.images.dtype == torch.float32  # the pool keeps full precision


def test_train_evaluate_and_resume_a_cyclegan_through_the_api(tmp_path, monkeypatch):
    from latentlab import api
    from latentlab.registry import build_config as build
    from latentlab.data.datasets import ImageData

    g = torch.Generator().manual_seed(0)
    two_domains = ImageData(torch.rand(8, 3, 20, 20, generator=g), torch.tensor([0, 1] * 4),
                            torch.rand(4, 3, 20, 20, generator=g), torch.tensor([0, 1] * 2), name="two_domains")
    monkeypatch.setattr("latentlab.data.handoff._read", lambda config, data_dir=None, run=None: two_domains)
    config = build({"model": {"name": "cyclegan", "ngf": 4, "n_blocks": 1, "ndf": 4, "n_layers": 2},
                    "data": {"crop": 16, "flip": True, "binarize": "none"},
                    "train": {"iterations": 2, "batch_size": 2, "checkpoint_every": 1, "log_every": 1},
                    "eval": {"protocol": "none"}})
    run = api.train(config, out=tmp_path / "cg", quiet=True)
    assert json.loads((run / "run.json").read_text())["x_shape"] == [3, 16, 16]  # the crop, not the load size
    assert (run / "figures" / "translations.png").exists()
    api.train(None, resume=run, overrides=["train.iterations=3"], quiet=True)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 1, 2, 2, 3, 3]  # two phases per step
    with pytest.raises(UserError, match="data.crop = 32"):
        api.train(build({**{"model": {"name": "cyclegan"}}, "data": {"crop": 32}, "eval": {"protocol": "none"}}),
                  out=tmp_path / "too_big", quiet=True)


# --- two domains from a folder in the CycleGAN layout (trainA, trainB, testA, testB) --------------


def domain_folder(root, name="horse2zebra", n_train=8, n_test=6, size=24):
    """A folder `name` of four splits holding PNGs and JPEGs of random pixels, domain A reddish, B bluish."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = root / name
    for split, n in (("trainA", n_train), ("trainB", n_train), ("testA", n_test), ("testB", n_test)):
        (folder / split).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 128, (size, size, 3), dtype=np.uint8)
            pixels[..., 0 if split.endswith("A") else 2] += 127
            Image.fromarray(pixels).save(folder / split / f"{i:03d}.{'png' if i % 2 else 'jpg'}")
    return folder


def test_domain_names_come_from_an_a2b_folder_name():
    from latentlab.data.domains import domain_names

    assert domain_names("horse2zebra") == ("horse", "zebra")
    assert domain_names("apple2orange") == ("apple", "orange")
    assert domain_names("summer2winter_yosemite") == ("summer", "winter")  # "_<qualifier>" is not a domain
    assert domain_names("iphone2dslr_flower") == ("iphone", "dslr")
    for other in ("maps", "facades", "my_photos", "2photo", "day2", "x2x", "a2b2c"):
        assert domain_names(other) == ("A", "B"), other


def test_a_folder_in_the_cyclegan_layout_is_read_as_two_named_domains(tmp_path):
    from latentlab.config import DataConfig
    from latentlab.data.own import load_own

    folder = domain_folder(tmp_path, n_train=3, n_test=2)
    data = load_own(DataConfig(name="folder", path=str(folder), binarize="none"), tmp_path)
    assert data.classes == ("horse", "zebra")  # not the four subfolders as classes
    assert data.train_x.shape == (6, 3, 24, 24) and data.test_x.shape == (4, 3, 24, 24)
    assert data.train_y.tolist() == [0, 0, 0, 1, 1, 1] and data.test_y.tolist() == [0, 0, 1, 1]
    assert data.train_x[:3, 0].float().mean() > data.train_x[:3, 2].float().mean()  # trainA (reddish) is X
    assert data.train_x[3:, 2].float().mean() > data.train_x[3:, 0].float().mean()
    plain = domain_folder(tmp_path / "other", name="my_pictures", n_train=2, n_test=1)
    sized = load_own(DataConfig(name="folder", path=str(plain), image_size=(8, 8), binarize="none"), tmp_path)
    assert sized.classes == ("A", "B") and sized.train_x.shape == (4, 3, 8, 8)
    assert sized.name != data.name  # the domain judge is cached under this name: two folders never share one


def cli(capsys, *argv):
    from latentlab.cli import main

    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_a_quick_cyclegan_trains_and_is_judged_on_a_horse2zebra_style_folder(tmp_path, capsys):
    from latentlab.studies.cyclegan import BUDGETS

    folder, run = domain_folder(tmp_path), tmp_path / "runs" / "h2z"
    quick = BUDGETS["quick"]
    overrides = [f'data.path="{folder}"', "data.name=folder", *quick.overrides, "train.checkpoint_every=1"]
    sets = [arg for override in overrides for arg in ("--set", override)]
    code, err = cli(capsys, "train", quick.preset, "--out", run, "--quiet", *sets)
    assert code == 0, err
    described = json.loads((run / "run.json").read_text())
    assert described["classes"] == ["horse", "zebra"] and described["x_shape"] == [3, 16, 16]
    results = json.loads((run / "results.json").read_text())
    sections = results["sections"]
    assert sections["X_to_Y"]["cycle_l1"] > 0 and 0 <= sections["Y_to_X"]["success"] <= 100
    assert sections["untranslated"]["fid"] > 0 and len(results["checks"]) >= 4
    assert results["protocol"]["classifier"]["test_accuracy"] >= 50  # reddish against bluish: not chance
    assert (run / "figures" / "translations.png").exists()
    code, err = cli(capsys, "eval", run)
    assert code == 0, err
    (folder / "testB" / "000.jpg").rename(folder / "testB" / "moved.jpg")  # the run's data changed: noticed
    code, err = cli(capsys, "eval", run)
    assert code == 2 and "1 file added (testB/moved.jpg), 1 removed (testB/000.jpg)" in err, err


@pytest.mark.parametrize("layout, message", [
    ({"photos/2020": 2}, "the folder layouts read are: images directly inside; one subfolder of images per class; "
                         "train/ and test/ each laid out either way; or trainA, trainB, testA, testB"),
    ({"trainA": 2, "trainB": 2, "testA": 1}, "testB missing; two unpaired domains (the CycleGAN layout) need images "
                                             "directly in each of trainA, trainB, testA, testB"),
    ({"trainA": 2, "trainB": 2, "testA": 1, "testB": 0}, "no images directly in testB; two unpaired domains"),
])
def test_a_folder_in_no_layout_read_is_refused_with_one_line_and_exit_2(tmp_path, capsys, layout, message):
    from PIL import Image

    folder = tmp_path / "data"
    for sub, n in layout.items():
        (folder / sub).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (20, 20), (i, 0, 0)).save(folder / sub / f"{i}.png")
    code, err = cli(capsys, "train", "cyclegan_apple2orange_64", "--out", tmp_path / "run", "--quiet",
                    "--set", f'data.path="{folder}"', "--set", "data.name=folder")
    assert code == 2 and message in err and err.count("\n") == 1, err
