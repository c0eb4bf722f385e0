"""Run configuration: frozen dataclasses read from TOML, with `--set a.b=c` overrides.

A config file has the sections `[model]`, `[data]`, `[train]` and `[eval]`. `model.name`
picks the model (see `registry.py`); the rest of `[model]` fills that model's own config
dataclass, which sits right above the model in `models/<name>.py`. Unknown keys, wrong
types and values outside a field's choices are errors that name the key and the accepted
ones, raised before any work starts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from latentlab.errors import UserError


class ConfigError(UserError):
    """A config key, type or value that is not accepted."""


def choice(default: str, *choices: str) -> Any:
    """A string field that must be one of `choices` (the default first)."""
    return field(default=default, metadata={"choices": (default, *choices)})


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, and how its pixels become x (float32 in [0, 1])."""

    name: str = choice("mnist", "fashion_mnist", "binarized_mnist", "olivetti_faces", "frey_faces",
                       # generated 2-D distributions (data/toy2d.py): x is (N, 2), binarize must be "none"
                       "8gaussians", "25gaussians", "swissroll", "moons", "checkerboard", "circles",
                       "pinwheel", "2spirals", "svhn")
    # none: grey values; dynamic: a fresh Bernoulli draw each time a batch is taken;
    # static: one draw, seeded by binarize_seed, kept for the whole run.
    binarize: str = choice("dynamic", "none", "static")
    binarize_seed: int = 0
    # the labelled stream of semi-supervised models (batches gain "x_labelled", "y_labelled"; the
    # whole labelled set every step, binarized like x): none; cs236: the 100 training images of
    # the CS236 "train" lists; per_class: labels_per_class images of each class, drawn with labelled_seed
    labelled: str = choice("none", "cs236", "per_class")
    labels_per_class: int = 10
    labelled_seed: int = 0
    # images: [H, W] after area averaging (Olivetti 64×64 -> [24, 24]); empty keeps the native size
    image_size: tuple[int, ...] = ()
    # unpaired image-to-image training (batches {"x": domain X, "x_b": domain Y}): a random crop x crop
    # window of each loaded image (data.image_size is then the load size: 286 for 256), 0: none; the test
    # images are centre-cropped to it. flip: mirror each training image left-right with probability 1/2
    crop: int = 0
    flip: bool = False
    n_train: int = 100_000  # generated data only: train and test draws, both from one generator seeded `seed`
    n_test: int = 10_000
    seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation loop. One optimizer per model phase, all with these settings."""

    iterations: int = 20_000
    batch_size: int = 97
    optimizer: str = choice("adam", "adamw", "rmsprop", "sgd")
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    # per-phase learning rates as "phase=lr" (e.g. ["generator=4e-5"] for a GAN's two time-scale rule); other phases use lr
    phase_lr: tuple[str, ...] = ()
    weight_decay: float = 0.0
    # after this fraction of the iterations every learning rate falls linearly to 0 at the last one
    # (CycleGAN's schedule: 0.5); 1 keeps it constant
    lr_decay_start: float = 1.0
    # fused: one kernel per step (fastest measured on CPU and GPU); foreach: batched ops; loop: per tensor
    optimizer_impl: str = choice("fused", "foreach", "loop")
    compile: bool = False  # torch.compile the model's loss (pays a compile time of tens of seconds)
    precision: str = choice("fp32", "bf16")  # bf16: autocast matmuls to bfloat16 (parameters stay fp32)
    channels_last: bool = False  # NHWC memory layout for conv nets (CUDA tensor cores)
    grad_clip: float = 0.0  # max global gradient norm per phase; 0 turns clipping off
    ema: float = 0.0  # decay of an exponential moving average of the weights; 0 turns it off
    seed: int = 0  # the one seed: parameters, data order, binarization, reparameterisation
    log_every: int = 100
    checkpoint_every: int = 5_000  # the last step is always checkpointed
    device: str = "auto"  # auto (cuda, then mps, then cpu) | cpu | cuda | cuda:1 | mps


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation after training (and by `latentlab eval`)."""

    # test: the full test set only; accuracy: q(y|x) on the whole grey test set (classifiers)
    protocol: str = choice("cs236", "test", "none", "samples2d", "accuracy", "samples_mnist")
    reference: str = ""  # key of the published numbers to print beside ours
    subset_repeats: int = 100  # NELBO/KL/Rec averaged over this many passes of the subset
    iwae_k: tuple[int, ...] = (1, 10, 100, 1000)
    iwae_repeats: tuple[int, ...] = (100, 10, 1, 1)  # passes of the subset per k
    full_test: bool = True  # also every bound on the whole test set, one pass each
    test_binarize_seed: int = 0  # static binarization of the full test set
    chunk: int = 25_000  # images x samples per decoder pass: bounds memory (IWAE-1000: +0.4 GiB)
    figures: bool = True
    n_samples: int = 2_000  # samples2d: model samples per metric, and the size of each real draw of its floor


@dataclass(frozen=True)
class Config:
    """A whole run. `model` is the config dataclass of the model named by `model.name`."""

    model: Any
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    description: str = ""


SECTIONS = {"data": DataConfig, "train": TrainConfig, "eval": EvalConfig}
PRESET_DIR = Path(__file__).parent / "configs"


# ----------------------------------------------------------------------------- reading


def presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def read_toml(path_or_preset: str | Path) -> tuple[dict, str]:
    """The raw table of a config file or preset name, and a name for the run."""
    path = Path(path_or_preset)
    if not path.suffix and not path.exists():
        path = PRESET_DIR / f"{path_or_preset}.toml"
        if not path.exists():
            raise ConfigError(
                f"no config file or preset named '{path_or_preset}'; "
                f"presets: {', '.join(presets())}"
            )
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text()), path.stem
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=c` -> (["a", "b"], c), c read as a TOML value, else taken as a plain string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value (like train.iterations=2000), got '{text}'")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """A copy of `raw` with each `a.b=c` set; the keys are checked later, with the rest."""
    raw = json.loads(json.dumps(raw))
    for text in overrides:
        path, value = parse_override(text)
        table = raw
        for part in path[:-1]:
            if not isinstance(table.setdefault(part, {}), dict):
                raise ConfigError(f"--set {text}: '{part}' is a value, not a section")
            table = table[part]
        table[path[-1]] = value
    return raw


def build(raw: dict) -> Config:
    """Check a raw table against the dataclasses and build the frozen config."""
    from latentlab.registry import model_config_class

    known = ["model", *SECTIONS, "description"]
    _reject_unknown(raw, known, where="the top level")
    model_raw = dict(raw.get("model", {}))
    name = model_raw.get("name")
    if name is None:
        raise ConfigError("model.name is missing: the config must say which model to train")
    cls = model_config_class(str(name))
    return Config(
        model=_dataclass_from(cls, model_raw, "model"),
        description=_check_type(raw.get("description", ""), str, "description"),
        **{s: _dataclass_from(c, raw.get(s, {}), s) for s, c in SECTIONS.items()},
    )


def load(path_or_preset: str | Path, overrides: list[str] = ()) -> tuple[Config, str]:
    """Read, override and check a config; returns it and the preset/file name."""
    raw, name = read_toml(path_or_preset)
    return build(apply_overrides(raw, list(overrides))), name


def _reject_unknown(raw: dict, accepted: list[str], where: str) -> None:
    for key in raw:
        if key not in accepted:
            close = [a for a in accepted if a[:3] == key[:3]]
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"unknown key '{key}' in {where}{hint}; accepted: {', '.join(accepted)}"
            )


def _dataclass_from(cls: type, raw: dict, section: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"'{section}' must be a section ([{section}]), got {raw!r}")
    names = [f.name for f in fields(cls)]
    _reject_unknown(raw, names, where=f"[{section}]")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields(cls):
        if f.name not in raw:
            continue
        key = f"{section}.{f.name}"
        value = _check_type(raw[f.name], hints[f.name], key)
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{key} = {value!r} is not one of: {', '.join(choices)}")
        values[f.name] = value
    return cls(**values)


def _check_type(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        elif len(value) != len(args):
            raise ConfigError(f"{key} must be a list of {len(args)} values, got {value!r}")
        return tuple(_check_type(v, a, key) for v, a in zip(value, args))
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[hint]
    if not ok:
        raise ConfigError(f"{key} must be {hint.__name__}, got {value!r} ({type(value).__name__})")
    return float(value) if hint is float else value


# ----------------------------------------------------------------------------- writing


def to_dict(config: Config) -> dict:
    return {
        "description": config.description,
        "model": dataclasses.asdict(config.model),
        **{s: dataclasses.asdict(getattr(config, s)) for s in SECTIONS},
    }


def to_toml(config: Config) -> str:
    """The fully resolved config as TOML; a value that differs from the default is marked."""
    lines = [f"description = {_toml_value(config.description)}", ""]
    for section in ["model", *SECTIONS]:
        obj = getattr(config, section)
        lines.append(f"[{section}]")
        for f in fields(obj):
            value = getattr(obj, f.name)
            line = f"{f.name} = {_toml_value(value)}"
            if f.default is not dataclasses.MISSING and value != f.default:
                line += f"  # changed; default {_toml_value(f.default)}"
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    return str(v)
