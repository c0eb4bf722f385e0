"""Run directories: opening and creating them, and loading a model without its dataset."""

from __future__ import annotations

import json

import pytest
import torch

from latentlab import api
from latentlab.errors import UserError
from latentlab.registry import build_model, load_config
from latentlab.runs import Run
from latentlab.training.checkpoint import save_checkpoint


def _fake_run(path, preset="cs236_vae", x_shape=(1, 28, 28), step=7, ema=True) -> tuple[Run, dict]:
    """A run directory written the way training writes it, without training: config, run.json and
    one checkpoint whose "model" and "ema" weights differ. Returns the run and the EMA state."""
    config, _ = load_config(preset)
    run = Run.create(path, preset)
    run.write_meta(x_shape=list(x_shape))
    run.write_config(config)
    model = build_model(config.model, x_shape)
    state = {"model": model.state_dict()}
    if ema:
        state["ema"] = {k: v + 1.0 for k, v in model.state_dict().items() if v.is_floating_point()}
    save_checkpoint(run.checkpoints_dir, step, state)
    return run, state.get("ema", state["model"])


def test_open_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        Run.open(tmp_path / "missing")
    with pytest.raises(UserError, match="no run.json"):
        Run.open(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(UserError, match="run.json is corrupt"):
        Run.open(tmp_path)
    (tmp_path / "run.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="corrupt"):
        Run.open(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"format": 0, "latentlab": "0.0.1"}))
    with pytest.raises(UserError, match="run format 0"):
        Run.open(tmp_path)
    for bad in ("missing", "", "run.json"):  # every error is one line
        try:
            Run.open(tmp_path / bad)
        except UserError as e:
            assert "\n" not in str(e)


def test_create_refuses_a_directory_holding_a_run(tmp_path):
    run, _ = _fake_run(tmp_path / "a")
    with pytest.raises(UserError, match="already holds a run; continue it with --resume"):
        Run.create(run.path, "cs236_vae")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.toml").write_text("")  # a run whose run.json was not written yet
    with pytest.raises(UserError, match="--resume"):
        Run.create(tmp_path / "b", "cs236_vae")
    assert Run.create(tmp_path / "c" / "d", "x").path.is_dir()  # a new folder, parents made


def test_a_model_loads_with_its_ema_weights_and_no_dataset(tmp_path, monkeypatch):
    run, ema = _fake_run(tmp_path / "run")
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("LATENTLAB_DATA", str(empty))

    def no_dataset(*args, **kwargs):
        raise AssertionError("a dataset was read")

    monkeypatch.setattr("latentlab.data.handoff.load_images", no_dataset)
    run = Run.open(run.path)
    assert run.x_shape == (1, 28, 28) and run.step == 7 and not run.finished
    model = run.load_model("cpu")
    assert not model.training
    for name, value in model.state_dict().items():
        if name in ema:
            torch.testing.assert_close(value, ema[name], rtol=0, atol=0)
    assert run.model is run.model  # loaded once
    assert type(api.load_model(run.path, "cpu")) is type(model)
    assert api.sample(run.path, n=4, device="cpu").is_file()  # sampling reads no dataset either


def test_step_is_read_without_tensors(tmp_path):
    run, _ = _fake_run(tmp_path / "run", step=12)
    (run.checkpoints_dir / "step-00000012.safetensors").write_bytes(b"not tensors")
    assert run.step == 12 and list(run.checkpoints()) == [12]
    with pytest.raises(UserError, match=r"is damaged \(step-00000012.safetensors is truncated or corrupt\)"):
        run.load_model("cpu")


def test_training_stores_the_data_shape_and_an_older_run_falls_back_to_the_data(tmp_path, one_thread):
    path = api.train("ddpm_8gaussians", overrides=["train.iterations=3", "eval.n_samples=200", "eval.figures=false"],
                     out=tmp_path / "run", quiet=True, evaluate_after=False)
    run = Run.open(path)
    assert run.meta["x_shape"] == [2] and run.step == 3 and run.finished and run.results is None
    meta = json.loads(run.meta_path.read_text())
    del meta["x_shape"]  # as written before the shape was stored
    run.meta_path.write_text(json.dumps(meta))
    old = Run.open(path)
    assert old.x_shape == (2,)  # learned from the (generated) data
    torch.testing.assert_close(old.model.state_dict(), run.model.state_dict(), rtol=0, atol=0)

    results = api.evaluate(Run.open(path), device="cpu", quiet=True)
    assert Run.open(path).results == json.loads(json.dumps(results))
    assert results["step"] == 3
