"""TensorBoard logging (train.log = ["jsonl", "tensorboard"]), read back with TensorBoard's own reader:
the numbers of metrics.jsonl at its steps, learning rates, throughput, grids and the evaluation as
hparams; a resume that purges what a stopped run logged after its checkpoint; grids that change no
number of training; and, without the package, one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec

import numpy as np
import pytest
import torch
from conftest import real_data_root
from safetensors.torch import load_file

import latentlab.api as api
from latentlab.cli import main
from latentlab.evaluation import figures
from latentlab.models.cvae import CVAEConfig
from latentlab.registry import build_model
from latentlab.run.metrics import read_metrics
from latentlab.training.tensorboard import progress_grid
from latentlab.viz.grid import image_grid

needs_tensorboard = pytest.mark.skipif(find_spec("tensorboard") is None,
                                       reason="tensorboard is not installed: pip install 'latentlab[tensorboard]'")
TENSORBOARD = 'train.log=["jsonl", "tensorboard"]'
VAE = ["train.iterations=24", "train.batch_size=8", "train.log_every=4", "train.checkpoint_every=12",
       "train.image_every=10", "data.binarize=none", "model.likelihood=gaussian", "model.z_dim=2", "eval.protocol=test",
       "eval.iwae_k=[1,4]", "eval.iwae_repeats=[1,1]", "eval.figures=false", TENSORBOARD]


def images(n: int = 64) -> np.ndarray:
    return np.random.default_rng(0).random((n, 8, 8)).astype(np.float32)


def events(run):
    """An EventAccumulator over run/tensorboard that keeps every event."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    return accumulator.Reload()


def steps(accumulator, tag: str) -> list[int]:
    return [e.step for e in accumulator.Scalars(tag)]


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield api.train("cs236_vae", data=images(), out=tmp_path_factory.mktemp("tb") / "run", quiet=True,
                        overrides=VAE)
    finally:
        torch.set_num_threads(threads)


@needs_tensorboard
def test_scalars_are_the_window_means_of_metrics_jsonl_at_its_steps(vae_run):
    tb, records = events(vae_run), read_metrics(vae_run / "metrics.jsonl")
    assert [r["step"] for r in records] == [4, 8, 12, 16, 20, 24]
    for term in ("loss", "nelbo", "kl", "rec"):
        logged = tb.Scalars(f"model/{term}")
        assert [e.step for e in logged] == [r["step"] for r in records], term
        assert [e.value for e in logged] == [np.float32(r[term]) for r in records], term  # stored as float32
    assert [e.value for e in tb.Scalars("lr/model")] == [np.float32(1e-3)] * 6  # the preset's constant rate
    for tag in ("throughput/iterations_per_s", "throughput/examples_per_s"):
        assert steps(tb, tag) == [4, 8, 12, 16, 20, 24] and all(e.value > 0 for e in tb.Scalars(tag))
    per_s = [e.value for e in tb.Scalars("throughput/iterations_per_s")]
    assert [e.value for e in tb.Scalars("throughput/examples_per_s")] == pytest.approx([8 * r for r in per_s])


@needs_tensorboard
def test_sample_grids_every_image_every_steps_and_at_the_last(vae_run):
    grids = events(vae_run).Images("samples")
    assert [g.step for g in grids] == [10, 20, 24]
    assert (grids[0].width, grids[0].height) == (8 * 10 + 2, 8 * 10 + 2)  # 8 x 8 images of 8 px, 2 px apart


@needs_tensorboard
def test_the_evaluation_is_written_as_hparams_into_the_same_folder(vae_run):
    from tensorboard.plugins.hparams import plugin_data_pb2

    assert [p.name for p in (vae_run / "tensorboard").iterdir() if p.is_dir()] == []  # no timestamped sibling run
    tb = events(vae_run)
    content = tb.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["train.lr"].number_value == pytest.approx(1e-3)
    assert start.hparams["model.likelihood"].string_value == "gaussian"
    assert start.hparams["eval.full_test"].string_value == "true"  # as in config.toml
    assert "train.betas" not in start.hparams  # lists are not hparams
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    results = json.loads((vae_run / "results.json").read_text())["sections"]["full_test"]
    assert {m.name.tag for m in experiment.metric_infos} == {f"eval/full_test/{k}" for k in results}
    assert [(e.step, e.value) for e in tb.Scalars("eval/full_test/nelbo")] == [(24, np.float32(results["nelbo"]))]


@needs_tensorboard
def test_grids_change_no_number_of_training(tmp_path, one_thread):
    """Drawing samples every 2 steps leaves the parameters bit-identical to a run without TensorBoard."""
    quiet = dict(quiet=True, evaluate_after=False)
    with_grids = api.train("cs236_vae", data=images(), out=tmp_path / "a", overrides=[*VAE, "train.image_every=2"],
                           **quiet)
    without = api.train("cs236_vae", data=images(), out=tmp_path / "b", overrides=[*VAE, 'train.log=["jsonl"]'],
                        **quiet)
    a, b = (load_file(run / "checkpoints" / "step-00000024.safetensors") for run in (with_grids, without))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (without / "tensorboard").exists()


@needs_tensorboard
def test_resume_purges_what_a_stopped_run_logged_after_its_checkpoint(tmp_path, one_thread):
    """A run logs steps 4..12 but keeps only the checkpoint of step 8 (as a kill would leave it); resumed to
    2 x 12 steps, each step appears once, with the values of the resumed metrics.jsonl."""
    run = api.train("cs236_vae", data=images(), out=tmp_path / "run", quiet=True, evaluate_after=False,
                    overrides=[*VAE, "train.iterations=12", "train.checkpoint_every=8"])
    for path in (run / "checkpoints").glob("step-00000012.*"):
        path.unlink()
    api.train(None, resume=run, overrides=["train.iterations=24"], quiet=True, evaluate_after=False)
    tb, records = events(run), read_metrics(run / "metrics.jsonl")
    assert steps(tb, "model/loss") == [4, 8, 12, 16, 20, 24] == [r["step"] for r in records]
    assert [e.value for e in tb.Scalars("model/loss")] == [np.float32(r["loss"]) for r in records]
    assert [g.step for g in tb.Images("samples")] == [10, 20, 24]


@needs_tensorboard
def test_a_two_phase_gan_logs_both_phases_and_no_grid_for_points(tmp_path, one_thread):
    run = api.train("gan_8gaussians", out=tmp_path / "run", quiet=True, overrides=[
        "train.iterations=6", "train.batch_size=16", "train.log_every=3", "data.n_train=64", "data.n_test=64",
        "model.hidden=8", 'eval.protocol="none"', "eval.figures=false", TENSORBOARD])
    tb = events(run)
    for phase in ("critic", "generator"):
        assert steps(tb, f"{phase}/loss") == [3, 6] and steps(tb, f"lr/{phase}") == [3, 6]
    assert tb.Tags()["images"] == []  # 2-D points: the evaluation draws their figures


@needs_tensorboard
def test_a_translator_logs_translations_of_fixed_training_images(tmp_path, one_thread):
    root = real_data_root()
    if root is None or not (root / "apple2orange" / "trainA").exists():
        pytest.skip("apple2orange is not on this machine (set LATENTLAB_DATA)")
    run = api.train("cyclegan_apple2orange_64", out=tmp_path / "run", quiet=True, data_dir=root, overrides=[
        "train.iterations=2", "train.batch_size=1", "data.image_size=[18, 18]", "data.crop=16", "model.ngf=4",
        "model.n_blocks=1", "model.ndf=4", "model.n_layers=2", "model.pool_size=2", "train.log_every=1",
        'eval.protocol="none"', "eval.figures=false", TENSORBOARD])
    tb = events(run)
    for phase in ("generator", "discriminator"):
        assert steps(tb, f"{phase}/loss") == [1, 2]
    grids = tb.Images("translations")
    assert [g.step for g in grids] == [2] and (grids[0].width, grids[0].height) == (8 * 18 + 2, 4 * 18 + 2)


def test_a_conditional_grid_is_the_figures_layout_and_leaves_mode_and_random_state_as_they_were(monkeypatch, tmp_path):
    model = build_model(CVAEConfig(z_dim=2, hidden=8, n_classes=4), (1, 6, 6))
    model.train()
    examples = {"x": torch.rand(8, 1, 6, 6)}
    state = torch.get_rng_state()
    tag, grid = progress_grid(model, examples, seed=0)
    assert tag == "samples" and grid.shape == (4 * 8 + 2, 16 * 8 + 2)  # 4 rows (the labels) of 64 // 4 columns
    assert model.training and torch.equal(torch.get_rng_state(), state)
    # the conditional figure from the same seed: row i = label i, column j = a shared z_j
    drawn = {}
    monkeypatch.setattr(figures.fig, "image_rows", lambda panels, labels, path: drawn.update(panels=panels) or path)
    with torch.no_grad():
        figures.conditional_grid(model.eval(), tmp_path / "grid.png", torch.Generator().manual_seed(0), n_z=16)
    (_, cells), = drawn["panels"]
    assert cells.shape == (4, 16, 1, 6, 6)
    np.testing.assert_array_equal(grid, image_grid(cells.flatten(0, 1), nrow=16))
    for r in range(4):  # the image at row r, column c of the TensorBoard grid is the figure's E[x|y=r, z_c]
        for c in range(16):
            top, left = 2 + r * 8, 2 + c * 8  # 6-pixel cells, 2 pixels between them and around
            expected = np.round(cells[r, c, 0].clamp(0, 1).numpy() * 255)
            assert np.array_equal(grid[top:top + 6, left:left + 6], expected)
    assert progress_grid(model, {"x": torch.rand(8, 2)}, seed=0) is None  # points and tables: no grid


def test_without_the_package_training_stops_in_one_line_before_any_file(tmp_path):
    out = tmp_path / "run"
    code = ("import sys; sys.modules['tensorboard'] = None; from latentlab.cli import main; "
            f"sys.exit(main(['train', 'gan_8gaussians', '--set', {TENSORBOARD!r}, '--out', {str(out)!r}, '--quiet']))")
    env = {**os.environ, "LATENTLAB_DATA": str(tmp_path / "no-data"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "pip install 'latentlab[tensorboard]'" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


@pytest.mark.parametrize("value, message", [
    ('["tb"]', 'train.log = ["tb"] is not accepted: a list, each one of "jsonl", "tensorboard"'),
    ('["tensorboard"]', 'train.log = ["tensorboard"] is not accepted: a list that holds "jsonl"'),
])
def test_a_log_it_cannot_write_is_refused_in_one_line(value, message, capsys, tmp_path):
    code = main(["train", "gan_8gaussians", "--set", f"train.log={value}", "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run").exists()


@needs_tensorboard
def test_a_run_logged_to_tensorboard_evaluates_without_the_package_saying_it_skips_the_hparams(tmp_path, one_thread):
    run = api.train("gan_8gaussians", out=tmp_path / "run", quiet=True, evaluate_after=False,
                    overrides=["train.iterations=4", "train.log_every=2", "eval.n_samples=64", TENSORBOARD])
    code = ("import sys; sys.modules['tensorboard'] = None; from latentlab.cli import main; "
            f"sys.exit(main(['eval', {str(run)!r}, '--quiet']))")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "no TensorBoard hparams" in done.stderr and "Traceback" not in done.stderr
    assert (run / "results.json").exists()
