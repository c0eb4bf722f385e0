"""Every study at the quick budget, rerun into the same --out: finished runs with the same config are reused
(nothing trained or evaluated again), a run whose config differs is refused with one line, and an interrupted
run is resumed and ends with the numbers of the uninterrupted one."""

import dataclasses
import json
import re

import pytest
from conftest import STUDY_DATA, run_study

from latentlab.cli import BUDGETS, main
from latentlab.errors import UserError
from latentlab.studies import elbo_1d, studies
from latentlab.training.trainer import Trainer

TIMINGS = {"elapsed_s", "elapsed", "seconds", "train_s", "eval_s", "conditions", "classifier_s", "cached"}


def numbers(out):
    """summary.json without its timings (and without whether the classifier came from the cache)."""
    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in TIMINGS}
        return [strip(v) for v in obj] if isinstance(obj, list) else obj
    return strip(json.loads((out / "summary.json").read_text()))


def stamps(out):
    """(mtime, size) of every checkpoint file and results.json of the study's runs."""
    files = [*out.glob("runs/*/checkpoints/*"), *out.glob("runs/*/results.json")]
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in files}


def bump_train_seed(toml: str) -> str:
    section, lines = "", []
    for line in toml.splitlines():
        section = line[1:-1] if line.startswith("[") else section
        if section == "train" and (m := re.match(r"seed = (\d+)", line)):
            line = f"seed = {int(m[1]) + 1}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_every_study_has_a_quick_rerun_test_and_the_cli_budgets():
    assert set(STUDY_DATA) == set(studies())  # a new study declares its data here, and so is tested below
    assert all(tuple(m.run.budgets) == BUDGETS for m in studies().values())


def test_every_budget_is_one_frozen_dataclass_of_its_study():
    for name, module in studies().items():
        kinds = {type(b) for b in module.run.budgets.values()}
        assert len(kinds) == 1, (name, kinds)
        kind = kinds.pop()
        assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen, name


@pytest.mark.parametrize("name", sorted(STUDY_DATA))
def test_rerun_into_the_same_out(name, quick_study, monkeypatch):
    out = quick_study(name)
    first, before = numbers(out), stamps(out)

    # another budget into this folder: refused in one line, before any work
    code, err = run_study(name, out, "--budget", "standard")  # the last --budget wins
    assert code == 2 and err.count("\n") == 1 and f"holds the quick budget of study {name}" in err, err
    runs = sorted(p for p in (out / "runs").glob("*") if p.is_dir())
    if not runs:  # a study of closed forms (elbo-1d) trains no run: nothing to reuse or resume
        assert name == "elbo-1d"
        return

    # the same command again: every run reused, nothing trained or evaluated again, the same numbers
    assert run_study(name, out) == (0, "")
    assert stamps(out) == before and numbers(out) == first

    # without the summary (a study interrupted before its end) each run's config is compared: refused in one
    # line naming the run and the first differing key (cs236-hw2 names its runs by seed under standard)
    summary = (out / "summary.json").read_text()
    (out / "summary.json").unlink()
    if name != "cs236-hw2":
        code, err = run_study(name, out, "--budget", "standard")
        assert code == 2 and err.count("\n") == 1 and re.search(r"/runs/\S+ was trained with \S+ = ", err), err
    (out / "summary.json").write_text(summary)
    config = runs[0] / "config.toml"
    saved = config.read_text()
    config.write_text(bump_train_seed(saved))
    code, err = run_study(name, out)
    config.write_text(saved)
    assert code == 2 and err.count("\n") == 1 and f"{runs[0]} was trained with train.seed" in err, err
    assert stamps(out) == before

    # an interrupted run (its last checkpoint lost) is resumed from the halfway checkpoint
    run = next(r for r in runs if len(list((r / "checkpoints").glob("step-*.json"))) >= 2)
    last = sorted((run / "checkpoints").glob("step-*.json"))[-1]
    tensors = last.with_suffix(".safetensors").read_bytes()
    for path in (last, last.with_suffix(".safetensors"), run / "results.json"):
        path.unlink(missing_ok=True)
    resumed, resume = [], Trainer.resume
    monkeypatch.setattr(Trainer, "resume", lambda self: resumed.append(resume(self)) or resumed[-1])
    assert run_study(name, out) == (0, "")
    assert resumed == [True]
    assert last.with_suffix(".safetensors").read_bytes() == tensors  # the same parameters, optimizer and RNG state
    assert numbers(out) == first


def test_a_study_refuses_a_run_folder_and_an_unknown_budget(tmp_path, capsys):
    (tmp_path / "run.json").write_text("{}")
    assert main(["study", "elbo-1d", "--budget", "quick", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a training run" in err
    with pytest.raises(UserError, match="no budget 'huge'; known: quick, standard, full"):
        elbo_1d.run(tmp_path / "study", "huge")
