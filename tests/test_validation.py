"""Every value a user can type is checked before any work: one line naming the key, exit 2.

Walks every field of every preset's config (the model's, data, train, eval) with values out of
its range and of the wrong type, through `latentlab.cli.main` with LATENTLAB_DATA pointing at an
empty folder: a refusal that came after reading data would fail on the missing dataset instead.
A few of them go through a real `latentlab` process; then the arguments of study, sample and bench.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import subprocess
import sys

import pytest

from latentlab import cli, fields
from latentlab.cli import main
from latentlab.config import SECTIONS, presets
from latentlab.models.scalar_vae import ScalarVAEConfig
from latentlab.registry import MODELS, load_config
from latentlab.studies import studies

# fields that may be negative: least-squares GAN targets and the 1-D VAE's initial weights
SIGNED = {"model.ls_a", "model.ls_b", "model.ls_c", "model.theta", "model.phi"}
CONFIG_CLASSES = [*SECTIONS.values(), *(cfg for _, cfg in MODELS.values()), ScalarVAEConfig]  # the last unregistered


def toml(v) -> str:
    """A value as typed after `--set key=` (a bare word stays a string)."""
    return v if isinstance(v, str) and v.isidentifier() else fields.show(v)


def candidates(spec: fields.Accepts) -> list:
    """Values of the wrong type and out-of-range values for a field of this kind (the test keeps
    those the field refuses: 0 is in range for a count where 0 means off)."""
    if spec.kind in ("int", "float"):
        return ["abc", True, [1], -1, 0, 1.5, math.nan, math.inf, -math.inf, 2**40]
    if spec.kind == "bool":
        return [1, "yes"]
    if spec.kind in ("choice", "str"):
        return ["not_a_choice", 1, ["a"]]
    if spec.kind == "list":
        length = (spec.lengths or (2,))[-1]
        items = ["abc", -1, 0, math.nan, math.inf] if spec.item.kind != "str" else ["no_equals_sign", 1]
        return ["abc", 1, *([v] * max(length, 1) for v in items), [1] * (length + 1)]
    raise AssertionError(spec.kind)


def preset_fields(preset: str):
    """(key, dataclass field) for every field of this preset's config."""
    cfg, _ = load_config(preset)
    for section in ("model", *SECTIONS):
        for f in dataclasses.fields(getattr(cfg, section)):
            if f"{section}.{f.name}" != "model.name":  # which model: tested below
                yield f"{section}.{f.name}", f


def test_every_config_field_declares_what_it_accepts():
    for cls in CONFIG_CLASSES:
        assert [f.name for f in dataclasses.fields(cls) if "accepts" not in f.metadata] == [], cls.__name__


def test_numeric_fields_refuse_nan_inf_text_and_negatives_unless_signed():
    """Independent of each field's declaration: no count, size, rate or scale takes these."""
    for cls in CONFIG_CLASSES:
        section = next((s for s, c in SECTIONS.items() if c is cls), "model")
        for f in dataclasses.fields(cls):
            spec, key = fields.accepts(f), f"{section}.{f.name}"
            if spec.kind in ("int", "float"):
                for bad in (math.nan, math.inf, -math.inf, "abc", True, None):
                    assert spec.refuses(bad), (key, bad)
                assert key in SIGNED or spec.refuses(-1), key
            if spec.kind == "list" and spec.item.kind in ("int", "float"):
                assert spec.refuses([math.nan] * (spec.lengths or (1,))[-1]), key


@pytest.fixture
def empty_data(tmp_path, monkeypatch):
    """LATENTLAB_DATA at an empty folder; and one argparse parser for every call (building it is
    most of the time of a refused call)."""
    root = tmp_path / "no-data"
    root.mkdir()
    monkeypatch.setenv("LATENTLAB_DATA", str(root))
    monkeypatch.setattr(cli, "parser", functools.cache(cli.parser))
    return root


@pytest.mark.parametrize("preset", presets())
def test_every_field_of_every_preset_refuses_bad_values_in_one_line(preset, capsys, tmp_path, empty_data):
    out = tmp_path / "run"
    tried = 0
    for key, f in preset_fields(preset):
        spec = fields.accepts(f)
        for value in candidates(spec):
            if not spec.refuses(value):  # in range for this field (like 0 for a count where 0 means off)
                continue
            code = main(["train", preset, "--set", f"{key}={toml(value)}", "--out", str(out), "--quiet"])
            err = capsys.readouterr().err
            assert code == 2, (key, value, err)
            assert err.count("\n") == 1 and err.startswith(f"latentlab train: error: {key} = "), (key, value, err)
            assert "is not accepted: " + spec.text in err, (key, value, err)
            assert not out.exists() and not any(empty_data.iterdir())
            tried += 1
    assert tried >= 100  # every preset has over 30 fields with several bad values each


@pytest.mark.parametrize("override, message", [
    # values that once trained nothing (exit 0) or ended in a traceback from the batcher, nn.Linear or Adam
    ("train.iterations=-5", "train.iterations = -5 is not accepted: a positive integer (>= 1)"),
    ("train.batch_size=0", "train.batch_size = 0 is not accepted: a positive integer (>= 1)"),
    ("model.z_dim=-3", "model.z_dim = -3 is not accepted: a positive integer (>= 1)"),
    ("train.lr=nan", "train.lr = nan is not accepted: a finite number > 0"),
    ("model.name=vea", 'model.name = "vea" is not accepted: one of "ae", '),
    ("eval.iwae_k=[1, 10]", "eval.iwae_repeats = [100, 10, 1, 1] is not accepted: a list as long as eval.iwae_k"),
    ("eval.protocol=samples2d", 'eval.protocol = "samples2d" is not accepted: '),
    ("eval.n_test=3", "eval.n_test = 3 is not accepted: 0 (all) or an integer >= 4: precision and recall need"),
    ("data.name=moons", 'data.binarize = "dynamic" is not accepted: "none" for the 2-D distribution "moons"'),
])
def test_named_bad_values_and_rules_between_fields(override, message, capsys, tmp_path, empty_data):
    code = main(["train", "cs236_vae", "--set", override, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("preset, override, message", [
    ("ncsn_8gaussians", "model.sigma_min=2", "model.sigma_min = 2.0 is not accepted: a number below model.sigma_max"),
    ("ddpm_8gaussians", "model.beta_end=1e-5", "model.beta_end = 1e-05 is not accepted: a number >= model.beta_start"),
    ("gan_mnist", "data.name=8gaussians", 'eval.protocol = "samples_mnist" is not accepted: not "samples_mnist" for'),
    ("gan_mnist", "data.name=svhn", 'eval.protocol = "samples_mnist" is not accepted: not "samples_mnist" for '
                                    'data.name = "svhn": FID, IS, precision and recall need a feature classifier'),
    ("ddpm_fashion", "data.name=mnist", 'eval.protocol = "samples_fashion" is not accepted: not "samples_fashion" '
                                        'for data.name = "mnist": use "samples_mnist"'),
    ("gan_8gaussians", "data.image_size=[4, 4]", "data.image_size = [4, 4] is not accepted: [] for the 2-D"),
])
def test_rules_between_fields_of_models(preset, override, message, capsys, tmp_path, empty_data):
    linear = ["--set", "model.schedule=linear"] if "beta" in override else []  # the preset's is cosine
    code = main(["train", preset, "--set", override, *linear, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_a_batch_larger_than_the_data_is_refused_in_one_line(capsys, tmp_path, empty_data):
    """Known only once the data is there: generated here, 10 points for a batch of 64."""
    code = main(["train", "gan_8gaussians", "--set", "data.n_train=10", "--set", "train.batch_size=64",
                 "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "train.batch_size = 64 is not accepted: at most the 10 training examples" in err


@pytest.mark.parametrize("argv, message", [
    (["--device", "meta"], "unknown device 'meta'; use auto, cpu, cuda, cuda:N or mps"),
    (["--device", "cuda:99"], "device 'cuda:99' was asked for but this machine has"),
    (["--set", "train.device=\"mps\""], "device 'mps' was asked for but this machine has no Apple GPU"),
])
def test_a_device_this_machine_lacks_is_refused_in_one_line(argv, message, capsys, tmp_path, empty_data):
    import torch

    if "mps" in message and torch.backends.mps.is_available():
        pytest.skip("this machine has an Apple GPU")
    code = main(["train", "gan_8gaussians", *argv, "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("preset, protocol, message", [
    ("gan_8gaussians", "test", 'eval.protocol = "test" is not accepted for model.name = "gan": it averages'),
    ("ncsn_8gaussians", "accuracy", 'eval.protocol = "accuracy" is not accepted for model.name = "ncsn"'),
    ("gan_8gaussians", "translation", 'eval.protocol = "translation" is not accepted for model.name = "gan"'),
])
def test_a_protocol_that_cannot_evaluate_the_model_is_refused_before_training(preset, protocol, message, capsys,
                                                                              tmp_path, empty_data):
    code = main(["train", preset, "--set", f"eval.protocol={protocol}", "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_classes_fewer_than_the_labels_are_refused_in_one_line(capsys, tmp_path, data_root):
    code = main(["train", "cs236_cvae_mnist", "--set", "model.n_classes=5", "--data-dir", str(data_root),
                 "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert 'model.n_classes = 5 is not accepted: at least the 10 classes of "mnist"' in err


def test_running_out_of_memory_is_one_line_and_other_errors_stay_tracebacks(capsys, tmp_path, monkeypatch,
                                                                           empty_data):
    """A config too large for the machine is the user's to change; any other RuntimeError is a bug."""
    from latentlab import api

    def too_large(*args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
                           "memory: you tried to allocate 51200000000 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(api, "build_model", too_large)
    code = main(["train", "gan_8gaussians", "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "error: out of memory (51.2 GB asked for); lower" in err, err

    def bug(*args):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(api, "build_model", bug)
    with pytest.raises(RuntimeError, match="shapes"):
        main(["train", "gan_8gaussians", "--out", str(tmp_path / "run2"), "--quiet"])


@pytest.mark.parametrize("argv, key", [
    (["train", "cs236_vae", "--set", "train.batch_size=0"], "train.batch_size"),
    (["sample", "RUN", "-n", "-3"], "-n"),
    (["study", "gan-mnist", "--budget", "nope"], "--budget"),
    (["bench", "--iterations", "0"], "--iterations"),
])
def test_a_real_process_prints_one_line_and_exits_2(argv, key, tmp_path, empty_data):
    env = {**os.environ, "LATENTLAB_DATA": str(empty_data)}
    done = subprocess.run([sys.executable, "-m", "latentlab", *argv, *(["--out", str(tmp_path / "o")])],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and key in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


# ----------------------------------------------------------------------------- study, sample, bench


@pytest.mark.parametrize("argv, key", [
    *[(["sample", "RUN", "-n", v], "-n") for v in ("-3", "0", "abc", "2.5", "")],
    *[(["sample", "RUN", "--seed", v], "--seed") for v in ("-1", "abc", "1e3", str(2**32))],
    *[(["study", "gan-mnist", "--budget", v], "--budget") for v in ("nope", "", "QUICK")],
    (["study", "no-such-study"], "no-such-study"),
    *[(["bench", "--iterations", v], "--iterations") for v in ("0", "-1", "abc", "1.5")],
    *[(["bench", "--rounds", v], "--rounds") for v in ("0", "-1", "abc")],
    (["bench", "--only", "typo"], "typo"),
    (["bench", "--only", "gan", "--only", "cs236"], "cs236"),
])
def test_command_arguments_are_refused_in_one_line(argv, key, capsys, tmp_path, empty_data):
    code = main([*argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and key in err and "usage:" not in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", sorted(studies()))
def test_every_study_refuses_an_unknown_budget_from_python(name, tmp_path, empty_data):
    with pytest.raises(fields.UserError, match="nope"):
        studies()[name].run(tmp_path / "o", "nope", data_dir=empty_data, device="cpu", quiet=True)
    assert not (tmp_path / "o").exists()
