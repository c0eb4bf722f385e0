"""Run directories: opening and creating them, and loading a model without its dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from latentlab import api
from latentlab.errors import UserError
from latentlab.registry import build_model, load_config
from latentlab.run import Run
from latentlab.run.checkpoint import save_checkpoint


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


def test_training_stores_the_data_shape_and_an_older_run_without_it_is_refused(tmp_path, one_thread):
    run = api.train("ddpm_8gaussians", overrides=["train.iterations=3", "eval.n_samples=200", "eval.figures=false"],
                    out=tmp_path / "run", quiet=True, evaluate_after=False)
    assert isinstance(run, Run) and run == tmp_path / "run" and str(run) == str(tmp_path / "run")
    assert run.meta["x_shape"] == [2] and run.step == 3 and run.finished and run.results is None
    model = Run.open(run).model
    meta = json.loads(run.meta_path.read_text())
    del meta["x_shape"]  # as written before the shape was stored
    run.meta_path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"predates the stored data shape: run `latentlab train --resume") as e:
        Run(run.path).load_model("cpu")  # read afresh
    assert "\n" not in str(e.value)
    api.train(None, resume=run, quiet=True, evaluate_after=False)  # stores it again
    torch.testing.assert_close(Run(run.path).model.state_dict(), model.state_dict(), rtol=0, atol=0)

    results = api.evaluate(Run.open(run), device="cpu", quiet=True)
    assert Run.open(run).results == json.loads(json.dumps(results))
    assert results["step"] == 3


def test_a_run_stands_wherever_its_path_did(tmp_path):
    run = Run(tmp_path / "a")
    assert run / "x.json" == tmp_path / "a" / "x.json" and str(run) == f"{run}" == str(tmp_path / "a")
    assert run == tmp_path / "a" and run == str(tmp_path / "a") and run == Run(tmp_path / "a") and run != tmp_path
    assert run.name == "a" and Path(run) == tmp_path / "a" and len({run, Run(tmp_path / "a")}) == 1
