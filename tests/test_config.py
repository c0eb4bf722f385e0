"""Config parsing: unknown keys, wrong types and bad choices fail early and say what is accepted."""

import pytest

from latentlab import config as C
from latentlab.config import ConfigError


def test_every_preset_loads():
    for name in C.presets():
        cfg, stem = C.load(name)
        assert stem == name and cfg.model.name


def test_cs236_preset_is_the_protocol():
    cfg, _ = C.load("cs236_vae")
    assert (cfg.model.z_dim, cfg.model.net, cfg.train.batch_size, cfg.train.iterations, cfg.train.lr) == (10, "v1", 97, 20000, 1e-3)
    assert (cfg.data.name, cfg.data.binarize, cfg.eval.protocol) == ("mnist", "dynamic", "cs236")
    assert cfg.eval.iwae_k == (1, 10, 100, 1000) and cfg.eval.iwae_repeats == (100, 10, 1, 1)


def test_overrides_are_typed_and_checked():
    cfg, _ = C.load("cs236_vae", ["train.iterations=300", "model.z_dim=2", "data.name=fashion_mnist", "eval.iwae_k=[1, 5]"])
    assert (cfg.train.iterations, cfg.model.z_dim, cfg.data.name, cfg.eval.iwae_k) == (300, 2, "fashion_mnist", (1, 5))
    cfg, _ = C.load("cs236_vae", ["train.lr=1"])  # an int where a float is expected is fine
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)


@pytest.mark.parametrize("override, message", [
    ("train.iteratons=5", "unknown key 'iteratons' in [train].*iterations"),
    ("trian.iterations=5", "unknown key 'trian' in the top level.*train"),
    ("model.zdim=5", "unknown key 'zdim' in [model].*z_dim"),
    ("train.iterations=abc", "train.iterations must be int, got 'abc'"),
    ("train.iterations=1.5", "train.iterations must be int"),
    ("eval.full_test=1", "eval.full_test must be bool"),
    ("data.binarize=sometimes", "data.binarize = 'sometimes' is not one of: dynamic, none, static"),
    ("model.name=vea", "unknown model.name 'vea'; known models: ae, .*vae"),  # the list grows with the registry
    ("train.betas=[0.9]", "train.betas must be a list of 2 values"),
    ("noequals", "--set expects key=value"),
])
def test_bad_configs_name_the_key_and_the_accepted_ones(override, message):
    with pytest.raises(ConfigError if "model.name" not in override else Exception, match=message.replace("[", r"\[").replace("]", r"\]")):
        C.load("cs236_vae", [override])


def test_missing_file_or_preset_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="no config file or preset named 'nope'; presets: .*cs236_vae"):
        C.load("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nname = 1")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        C.load(bad)


def test_toml_round_trip_marks_changed_values():
    cfg, _ = C.load("cs236_vae", ["train.iterations=300", "model.beta=0.5"])
    text = C.to_toml(cfg)
    assert "iterations = 300  # changed; default 20000" in text
    assert "beta = 0.5  # changed; default 1.0" in text
    assert "batch_size = 97  # changed; default 97" not in text
    raw, _ = C.tomllib.loads(text), None
    assert C.build(raw) == cfg
