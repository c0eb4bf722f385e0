"""Run configuration: frozen dataclasses read from TOML, with `--set a.b=c` overrides.

A config file has the sections `[model]`, `[data]`, `[train]` and `[eval]`. `model.name`
picks the model (see `registry.py`, whose `load_config` and `build_config` read a config);
the rest of `[model]` fills that model's own config dataclass, which sits right above the
model in `models/<name>.py`. Every field declares what it accepts (`latentlab.fields`):
unknown keys, wrong types, values out of range and values that contradict each other are
errors that name the key, the value and what is accepted, raised before any data is read.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from latentlab.fields import (DECAY, POSITIVE_INT, ConfigError, check, check_rules, choice, decay, flag, integer, list_of,
                              nonnegative, nonnegative_int, one_of, positive, positive_int, probability, random_seed,
                              show, strings, text)

__all__ = ["Config", "ConfigError", "DataConfig", "EvalConfig", "ModelConfig", "TrainConfig", "build", "check_config",
           "differences", "presets", "read_toml", "apply_overrides", "to_toml"]

# generated 2-D distributions (data/toy2d.py): x is (N, 2), no labels, binarize must be "none"
GENERATED = ("8gaussians", "25gaussians", "swissroll", "moons", "checkerboard", "circles", "pinwheel", "2spirals")
# the unpaired datasets of the CycleGAN release (trainA/trainB/testA/testB), downloaded by data/archives.py
CYCLEGAN_RELEASES = ("apple2orange", "horse2zebra", "summer2winter_yosemite", "monet2photo", "cezanne2photo",
                     "ukiyoe2photo", "vangogh2photo", "iphone2dslr_flower", "maps", "facades")
# published numbers eval.reference may name (evaluation/references.py)
REFERENCES = ("cs236_vae", "cs236_gmvae", "cs236_ssvae_gw0", "cs236_ssvae_gw1")


def _is_phase_lr(entry: str) -> bool:
    phase, sep, lr = entry.partition("=")
    try:
        return bool(sep and phase.strip()) and 0 < float(lr) < float("inf")
    except ValueError:
        return False


def _is_device(name: str) -> bool:
    return re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]+)?", name) is not None


class ModelConfig(Protocol):
    """A model's config dataclass (models/<name>.py); `name` is its key in the registry."""

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, and how its pixels become x (float32 in [0, 1])."""

    name: str = choice("mnist", "fashion_mnist", "binarized_mnist", "olivetti_faces", "frey_faces", *GENERATED, "svhn",
                       # the user's own data (data/own.py): an image folder or a .npy/.npz file at
                       # data.path; a CycleGAN release (label 0: domain A, 1: domain B); arrays
                       # handed to latentlab.train(data=...), kept in the run as data.safetensors
                       "folder", "array", *CYCLEGAN_RELEASES, "memory")
    path: str = text("")  # folder and array: the image folder or the .npy/.npz file
    # none: grey values; dynamic: a fresh Bernoulli draw each time a batch is taken;
    # static: one draw, seeded by binarize_seed, kept for the whole run.
    binarize: str = choice("dynamic", "none", "static")
    binarize_seed: int = random_seed(0)
    # the labelled stream of semi-supervised models (batches gain "x_labelled", "y_labelled"; the
    # whole labelled set every step, binarized like x): none; cs236: the 100 training images of
    # the CS236 "train" lists; per_class: labels_per_class images of each class, drawn with labelled_seed
    labelled: str = choice("none", "cs236", "per_class")
    labels_per_class: int = positive_int(10)
    labelled_seed: int = random_seed(0)
    # images: [H, W] after area averaging (Olivetti 64×64 -> [24, 24]; arrays too); empty keeps the
    # native size. Image folders and the CycleGAN releases: resize to cover [H, W], then crop the centre
    image_size: tuple[int, ...] = list_of((), POSITIVE_INT, lengths=(0, 2),
                                          describe="[] (the native size) or [H, W], two positive integers")
    # a random crop x crop window of each training image, drawn per batch (data.image_size is then the
    # load size: 286 for 256), 0: none; the test images are centre-cropped to it. flip: mirror each
    # training image left-right with probability 1/2 (both: data/augment.py; unpaired training too)
    crop: int = nonnegative_int(0)
    flip: bool = flag(False)
    channels: int = integer(0, 0, 3)  # image folders: 1 grey, 3 colour, 0 grey if every image is grey (arrays: a check)
    test_fraction: float = probability(0.1)  # folder and array without a test split: held-out share, drawn with `seed`
    standardize: bool = flag(True)  # tables: (x - mean) / std per feature, the training split's statistics
    n_train: int = positive_int(100_000)  # generated data only: train and test draws, one generator seeded `seed`
    n_test: int = positive_int(10_000)
    seed: int = random_seed(0)  # also the held-out split of folder and array data
    # run.json keeps a fingerprint of the data a run trains on (data/fingerprint.py); train --resume refuses
    # data that changed since, unless this is true (set with --set on the resume: config.toml records it)
    accept_changed: bool = flag(False)

    def broken_rules(self) -> Iterator[tuple[str, str]]:
        """(field, what it accepts) for each rule between fields these values break."""
        if self.channels == 2:
            yield "channels", "0 (as the images are), 1 (grey) or 3 (colour)"
        if self.name in GENERATED:
            if self.binarize != "none":
                yield "binarize", f"\"none\" for the 2-D distribution \"{self.name}\" (binarizing is for images)"
            if self.image_size:
                yield "image_size", f"[] for the 2-D distribution \"{self.name}\" (resizing is for images)"
            if self.labelled != "none":
                yield "labelled", f"\"none\" for the 2-D distribution \"{self.name}\" (it has no labels)"


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation loop. One optimizer per model phase, all with these settings."""

    iterations: int = positive_int(20_000)
    batch_size: int = positive_int(97)
    optimizer: str = choice("adam", "adamw", "rmsprop", "sgd")
    lr: float = positive(1e-3)
    betas: tuple[float, float] = list_of((0.9, 0.999), DECAY, lengths=(2,))  # sgd: betas[0] is the momentum
    # per-phase learning rates as "phase=lr" (e.g. ["generator=4e-5"] for a GAN's two time-scale rule); other phases use lr
    phase_lr: tuple[str, ...] = list_of((), strings(_is_phase_lr, "a string \"phase=lr\" with lr > 0"),
                                        describe="a list of strings \"phase=lr\" with lr > 0 (like \"generator=4e-5\")")
    weight_decay: float = nonnegative(0.0)
    # after this fraction of the iterations every learning rate falls linearly to 0 at the last one
    # (CycleGAN's schedule: 0.5); 1 keeps it constant
    lr_decay_start: float = probability(1.0)
    # fused: one kernel per step (fastest measured on CPU and GPU); foreach: batched ops; loop: per tensor
    optimizer_impl: str = choice("fused", "foreach", "loop")
    compile: bool = flag(False)  # torch.compile the model's loss (pays a compile time of tens of seconds)
    precision: str = choice("fp32", "bf16")  # bf16: autocast matmuls to bfloat16 (parameters stay fp32)
    channels_last: bool = flag(False)  # NHWC memory layout for conv nets (CUDA tensor cores)
    grad_clip: float = nonnegative(0.0)  # max global gradient norm per phase; 0 turns clipping off
    ema: float = decay(0.0)  # decay of an exponential moving average of the weights; 0 turns it off
    seed: int = random_seed(0)  # the one seed: parameters, data order, binarization, reparameterisation
    log_every: int = positive_int(100)
    # where the log goes: "jsonl" is metrics.jsonl, which the report, the loss curves and the studies read,
    # so it cannot be left out; "tensorboard" adds event files in <run>/tensorboard/ (training/tensorboard.py;
    # pip install 'latentlab[tensorboard]')
    log: tuple[str, ...] = list_of(("jsonl",), one_of("jsonl", "tensorboard"))
    # tensorboard: a sample grid every image_every steps and at the last, each one model.sample(64) (a diffusion
    # model's: all its sampling steps); 1,000 is one grid per ten log records at the default log_every
    image_every: int = positive_int(1_000)
    checkpoint_every: int = positive_int(5_000)  # the last step is always checkpointed
    device: str = text("auto", pattern=_is_device, describe="auto, cpu, cuda, cuda:N or mps")  # auto: cuda, mps, cpu

    def broken_rules(self) -> Iterator[tuple[str, str]]:
        """(field, what it accepts) for each rule these values break."""
        if "jsonl" not in self.log:
            yield "log", "a list that holds \"jsonl\" (metrics.jsonl feeds the report and the curves), " \
                         "like [\"jsonl\", \"tensorboard\"]"


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation after training (and by `latentlab eval`)."""

    # test: the full test set only; accuracy: q(y|x) on the whole grey test set (classifiers); samples_mnist,
    # samples_fashion: FID, IS, precision and recall of image samples on that dataset's feature classifier
    protocol: str = choice("cs236", "test", "none", "samples2d", "accuracy", "samples_mnist", "samples_fashion",
                           "translation", "latent_prior")
    reference: str = choice("", *REFERENCES)  # key of the published numbers to print beside ours; "": none
    subset_repeats: int = positive_int(100)  # NELBO/KL/Rec averaged over this many passes of the subset
    iwae_k: tuple[int, ...] = list_of((1, 10, 100, 1000), POSITIVE_INT)  # []: no IWAE bounds (an AE has none)
    iwae_repeats: tuple[int, ...] = list_of((100, 10, 1, 1), POSITIVE_INT)  # passes of the subset per k
    full_test: bool = flag(True)  # also every bound on the whole test set, one pass each
    test_binarize_seed: int = random_seed(0)  # static binarization of the full test set
    chunk: int = positive_int(25_000)  # images x samples per decoder pass: bounds memory (IWAE-1000: +0.4 GiB)
    figures: bool = flag(True)
    n_samples: int = positive_int(2_000)  # samples2d: model samples per metric, and the size of each real draw of its floor
    # samples_mnist, samples_fashion and translation: the classifier's recipe ("quick" trains in seconds, for
    # tests and quick budgets: its scores compare nothing) and the test images scored, the first n (of each
    # domain), 0: all
    classifier: str = choice("standard", "quick")
    n_test: int = nonnegative_int(0)

    def broken_rules(self) -> Iterator[tuple[str, str]]:
        """(field, what it accepts) for each rule between fields these values break."""
        if len(self.iwae_repeats) != len(self.iwae_k):
            yield "iwae_repeats", f"a list as long as eval.iwae_k ({len(self.iwae_k)} values), one count per k"
        if 0 < self.n_test < 4:
            yield "n_test", "0 (all) or an integer >= 4: precision and recall need each image's 3 nearest neighbours"


@dataclass(frozen=True)
class Config:
    """A whole run. `model` is the config dataclass of the model named by `model.name`."""

    model: ModelConfig
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


def file_data(path_or_preset: str | Path) -> tuple[str, str]:
    """(data.name, data.path) as a config file or preset writes them, before any override (the defaults where
    it leaves them out)."""
    data = read_toml(path_or_preset)[0].get("data", {})
    data = data if isinstance(data, dict) else {}
    return data.get("name", DataConfig.name), data.get("path", DataConfig.path)


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


def build(raw: dict, model_configs: Mapping[str, type]) -> Config:
    """Check a raw table against the dataclasses and build the frozen config; `model_configs` maps
    each model name to its config dataclass (the registry's `build_config` passes them all)."""
    _reject_unknown(raw, ["model", *SECTIONS, "description"], where="the top level")
    model_raw = raw.get("model", {})
    if not isinstance(model_raw, dict):
        raise ConfigError(f"'model' must be a section ([model]), got {show(model_raw)}")
    if "name" not in model_raw:
        raise ConfigError(f"model.name is missing: the config must say which model to train; "
                          f"one of {', '.join(json.dumps(m) for m in model_configs)}")
    name = model_raw["name"]
    if not isinstance(name, str) or name not in model_configs:
        raise ConfigError(f"model.name = {show(name)} is not accepted: "
                          f"one of {', '.join(json.dumps(m) for m in model_configs)}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"description = {show(description)} is not accepted: a string")
    return check_config(Config(
        model=_dataclass_from(model_configs[name], model_raw, "model"),
        description=description,
        **{s: _dataclass_from(c, raw.get(s, {}), s) for s, c in SECTIONS.items()},
    ))


def check_config(config: Config) -> Config:
    """`config` itself if every value is accepted and no rule between fields is broken, else a
    ConfigError for the first that is not (for configs built in Python rather than read)."""
    if not isinstance(config.description, str):
        raise ConfigError(f"description = {show(config.description)} is not accepted: a string")
    for section in ["model", *SECTIONS]:
        obj = getattr(config, section)
        for f in fields(obj):
            check(f"{section}.{f.name}", getattr(obj, f.name), f)
        check_rules(obj, section)
    check_rules(config)
    return config


def _reject_unknown(raw: dict, accepted: list[str], where: str) -> None:
    for key in raw:
        if key not in accepted:
            close = [a for a in accepted if a[:3] == key[:3]]
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"unknown key '{key}' in {where}{hint}; accepted: {', '.join(accepted)}"
            )


def _dataclass_from(cls: type, raw: Any, section: str) -> Any:
    """An instance of `cls` from the raw table of one section, every value checked."""
    if not isinstance(raw, dict):
        raise ConfigError(f"'{section}' must be a section ([{section}]), got {show(raw)}")
    _reject_unknown(raw, [f.name for f in fields(cls)], where=f"[{section}]")
    return cls(**{f.name: check(f"{section}.{f.name}", raw[f.name], f) for f in fields(cls) if f.name in raw})


def differences(old: Any, new: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """{"section.key": (old value, new value)} for every leaf field of two configs that differs; the configs
    of two different models differ as a whole ("model")."""
    if type(old) is not type(new) or not dataclasses.is_dataclass(old):
        return {} if old == new else {prefix or "config": (old, new)}
    found = {}
    for f in fields(old):
        key = f"{prefix}.{f.name}" if prefix else f.name
        found.update(differences(getattr(old, f.name), getattr(new, f.name), key))
    return found


# ----------------------------------------------------------------------------- writing


def to_toml(config: Config) -> str:
    """The fully resolved config as TOML; a value that differs from the default is marked."""
    lines = [f"description = {show(config.description)}", ""]
    for section in ["model", *SECTIONS]:
        obj = getattr(config, section)
        lines.append(f"[{section}]")
        for f in fields(obj):
            value = getattr(obj, f.name)
            line = f"{f.name} = {show(value)}"
            if f.default is not dataclasses.MISSING and value != f.default:
                line += f"  # changed; default {show(f.default)}"
            lines.append(line)
        lines.append("")
    return "\n".join(lines)
