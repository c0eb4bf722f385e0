"""Config parsing: unknown keys, wrong types and bad choices fail early and say what is accepted."""

import pytest

from latentlab import config as C
from latentlab.config import ConfigError
from latentlab.registry import build_config, load_config


def test_every_preset_loads():
    for name in C.presets():
        cfg, stem = load_config(name)
        assert stem == name and cfg.model.name


def test_cs236_preset_is_the_protocol():
    cfg, _ = load_config("cs236_vae")
    assert (cfg.model.z_dim, cfg.model.net, cfg.train.batch_size, cfg.train.iterations, cfg.train.lr) == (10, "v1", 97, 20000, 1e-3)
    assert (cfg.data.name, cfg.data.binarize, cfg.eval.protocol) == ("mnist", "dynamic", "cs236")
    assert cfg.eval.iwae_k == (1, 10, 100, 1000) and cfg.eval.iwae_repeats == (100, 10, 1, 1)


def test_overrides_are_typed_and_checked():
    cfg, _ = load_config("cs236_vae", ["train.iterations=300", "model.z_dim=2", "data.name=fashion_mnist", "eval.iwae_k=[1, 5]",
                                       "eval.protocol=test",
                                       "eval.iwae_repeats=[3, 1]"])
    assert (cfg.train.iterations, cfg.model.z_dim, cfg.data.name, cfg.eval.iwae_k) == (300, 2, "fashion_mnist", (1, 5))
    cfg, _ = load_config("cs236_vae", ["train.lr=1"])  # an int where a float is expected is fine
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)


@pytest.mark.parametrize("override, message", [
    ("train.iteratons=5", "unknown key 'iteratons' in [train].*iterations"),
    ("trian.iterations=5", "unknown key 'trian' in the top level.*train"),
    ("model.zdim=5", "unknown key 'zdim' in [model].*z_dim"),
    ("train.iterations=abc", 'train.iterations = "abc" is not accepted: a positive integer (>= 1)'),
    ("train.iterations=1.5", "train.iterations = 1.5 is not accepted: a positive integer"),
    ("eval.full_test=1", "eval.full_test = 1 is not accepted: true or false"),
    ("data.binarize=sometimes", 'data.binarize = "sometimes" is not accepted: one of "dynamic", "none", "static"'),
    ("model.name=vea", 'model.name = "vea" is not accepted: one of "ae", .*"vae"'),  # the list grows with the registry
    ("train.betas=[0.9]", "train.betas = [0.9] is not accepted: a list of 2 values"),
    ("noequals", "--set expects key=value"),
])
def test_bad_configs_name_the_key_and_the_accepted_ones(override, message):
    escaped = message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ConfigError, match=escaped):
        load_config("cs236_vae", [override])


def test_missing_file_or_preset_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="no config file or preset named 'nope'; presets: .*cs236_vae"):
        load_config("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nname = 1")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(bad)


def test_toml_round_trip_marks_changed_values():
    cfg, _ = load_config("cs236_vae", ["train.iterations=300", "model.beta=0.5"])
    text = C.to_toml(cfg)
    assert "iterations = 300  # changed; default 20000" in text
    assert "beta = 0.5  # changed; default 1.0" in text
    assert "batch_size = 97  # changed; default 97" not in text
    raw, _ = C.tomllib.loads(text), None
    assert build_config(raw) == cfg
