"""`Run`: one training run's directory (its layout: run/__init__.py), read and written through its
properties and methods; what the files hold is in this package's other modules.

    run = Run.open("runs/cs236_vae-20261129-101500")
    run.step, run.finished, run.results        # read from files, no tensor loaded
    model = run.model                          # newest checkpoint, EMA weights if any, eval mode; no dataset read

A `Run` stands wherever its directory's path did: `run / "x"`, `str(run)`, `Path(run)`, `run == path`.
"""

from __future__ import annotations

import json
import time
import tomllib
from functools import cached_property
from pathlib import Path

import torch

from latentlab import config as config_io
from latentlab._version import __version__
from latentlab.config import Config
from latentlab.device import resolve_device
from latentlab.errors import UserError
from latentlab.files import FolderHandle, atomic_write, make_dir, read_json, read_text
from latentlab.run.checkpoint import (DamagedCheckpoint, checkpoint_files, checkpoint_step, latest_checkpoint,
                                      load_checkpoint, load_newest, save_checkpoint)
from latentlab.run.lock import LOCK_NAME, hold
from latentlab.run.metrics import MetricsLog, read_metrics
from latentlab.run.resume import record

FORMAT = 1  # bump when the layout of a run directory changes


def default_dir(name: str) -> Path:
    """runs/<name>-<local time>, the folder a run or study gets when no --out is given."""
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


class Run(FolderHandle):
    """A run directory. `Run.create` starts a new one, `Run.open` checks and opens an existing one. It stands in
    for the directory's path (files.FolderHandle)."""

    @property
    def name(self) -> str:
        return self.path.name

    # -- the layout
    @property
    def meta_path(self) -> Path:
        return self.path / "run.json"

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / "tensorboard"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def figures_dir(self) -> Path:
        return self.path / "figures"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def results_path(self) -> Path:
        return self.path / "results.json"

    @property
    def explorer_path(self) -> Path:
        return self.path / "explorer.json"

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    @property
    def arrays_path(self) -> Path:
        """The arrays handed to latentlab.train(data=...), as data.safetensors (data/memory.py writes it)."""
        return self.path / "data.safetensors"

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_NAME

    # -- creating and opening
    @classmethod
    def create(cls, out: str | Path | None, name: str) -> Run:
        """A new run directory `out` (default runs/<name>-<time>); refuses one that already holds a run."""
        run = cls(out if out else default_dir(name))
        if run.meta_path.exists() or run.config_path.exists():
            raise UserError(f"{run.path} already holds a run; continue it with --resume {run.path}, "
                            "or choose another --out")
        make_dir(run.path)
        return run

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """An existing run directory, checked: it exists, and its run.json is readable and of this format."""
        if isinstance(path, Run):
            return path
        run = cls(path)
        if not run.path.is_dir():
            raise UserError(f"run directory {run.path} does not exist")
        run.meta  # noqa: B018 -- reading it checks it
        return run

    # -- run.json
    @cached_property
    def meta(self) -> dict:
        """The contents of run.json, checked for this version's format."""
        if not self.meta_path.exists() and not self.meta_path.is_symlink():
            raise UserError(f"{self.path} is not a latentlab run directory, or one written by an older version "
                            f"(no run.json: {self.meta_path} is missing)")
        meta = read_json(self.meta_path, todo="train the run again")
        if meta.get("format") != FORMAT:
            raise UserError(f"{self.path} was written by latentlab {meta.get('latentlab', '?')} (run format "
                            f"{meta.get('format')}); this version reads format {FORMAT}: train it again")
        return meta

    def write_meta(self, **fields) -> None:
        """Merge `fields` into run.json (created with the format and the latentlab version if absent)."""
        meta = self.meta if self.meta_path.exists() else {"format": FORMAT, "latentlab": __version__}
        meta = {**meta, **fields}
        atomic_write(self.meta_path, json.dumps(meta))
        self.__dict__["meta"] = meta

    @property
    def x_shape(self) -> tuple[int, ...]:
        """The shape of one data point (no batch dim), from run.json."""
        if "x_shape" not in self.meta:
            raise UserError(f"{self.meta_path} predates the stored data shape: run `latentlab train --resume "
                            f"{self.path}` once to store it (and evaluate the run again), or train the run again")
        return tuple(self.meta["x_shape"])

    @property
    def data_fingerprint(self) -> dict | None:
        """What the data the run last trained on were (data/fingerprint.py), from run.json; None for a new run
        and for one made before the fingerprint was kept."""
        return self.meta.get("data_fingerprint") if self.meta_path.exists() else None

    # -- config.toml
    @cached_property
    def config(self) -> Config:
        """The run's config, checked against this version's schema."""
        return self.read_config()

    def read_config(self, overrides: list[str] = ()) -> Config:
        """The run's config with `overrides` ("a.b=c") applied, checked against this version's schema."""
        from latentlab.registry import build_config  # every model's config class: imported only when read

        _, raw = self.read_toml()
        try:
            return build_config(config_io.apply_overrides(raw, list(overrides)))
        except UserError as e:
            raise UserError(f"{self.config_path}: {e}") from None

    def resumed_config(self, overrides: list[str] = ()) -> tuple[Config, dict]:
        """The config a resume trains with (the run's, `overrides` applied) and what they change; a change
        the checkpoint cannot take is a UserError (run/resume.py)."""
        from latentlab.run.resume import check_resume

        config = self.read_config(overrides)
        return config, check_resume(self.config, config, self.path)

    def read_toml(self) -> tuple[str, dict]:
        """config.toml's text and its tables, checked to be complete but not against this version's schema
        (a report shows the config of any run as it was written)."""
        text = read_text(self.config_path, todo="restore it from a copy, or train the run again")
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"{self.config_path} is corrupt (not valid TOML: {e}); restore it from a copy, "
                            "or train the run again") from None
        self.check_complete(raw)
        return text, raw

    def check_complete(self, raw: dict) -> None:
        """A UserError unless the parsed config.toml has every table a run's config is written with: a file
        cut short at a line break still parses, and would silently train or evaluate with defaults."""
        missing = [t for t in ("model", *config_io.SECTIONS) if not isinstance(raw.get(t), dict)]
        if missing:
            raise UserError(f"{self.config_path} has no [{missing[0]}] table: it is cut short or not a run's "
                            "config; restore it from a copy, or train the run again")

    def write_config(self, config: Config) -> None:
        atomic_write(self.config_path, config_io.to_toml(config))
        self.__dict__.pop("config", None)

    def record_resume(self, config: Config, step: int, changed: dict) -> None:
        """config.toml with the values in use from `step` on, headed by one line per resume saying
        what changed at which step (run/resume.py)."""
        previous = read_text(self.config_path, todo="restore it from a copy")
        atomic_write(self.config_path, record(config_io.to_toml(config), previous, step, changed))
        self.__dict__.pop("config", None)

    # -- checkpoints
    def latest_checkpoint(self) -> Path | None:
        """The .json file of the newest complete checkpoint, if any."""
        return latest_checkpoint(self.checkpoints_dir)

    def checkpoints(self) -> dict[int, Path]:
        """{step: .json file} of every complete checkpoint, oldest first (read without loading tensors)."""
        return {checkpoint_step(p): p for p in checkpoint_files(self.checkpoints_dir)}

    def save_checkpoint(self, step: int, state: dict) -> Path:
        """Write `state` as the checkpoint of `step` (run/checkpoint.py); returns its .json file."""
        return save_checkpoint(self.checkpoints_dir, step, state)

    def load_newest_checkpoint(self) -> tuple[Path, int, dict, list[DamagedCheckpoint]] | None:
        """(.json file, step, state, the damaged newer checkpoints passed over) of the newest intact
        checkpoint; None when there is none yet. A UserError when none is intact."""
        return load_newest(self.checkpoints_dir)

    @property
    def step(self) -> int:
        """The step of the newest checkpoint (0 if none), read from its JSON file: no tensor is loaded."""
        ckpt = self.latest_checkpoint()
        return 0 if ckpt is None else checkpoint_step(ckpt)

    @property
    def finished(self) -> bool:
        """Trained to config.train.iterations."""
        return self.step >= self.config.train.iterations

    def load_model(self, device: str | torch.device | None = None, *, checkpoint: Path | None = None):
        """The model with the weights of `checkpoint` (default: the newest), EMA weights where the run
        kept them, in eval mode, on `device` (default: the config's train.device). No dataset is read."""
        from latentlab.registry import trained_model  # every model class: imported only when one is loaded

        checkpoint = checkpoint or self.latest_checkpoint()
        if checkpoint is None:
            raise UserError(f"{self.path} has no checkpoint yet: train it first (latentlab train --resume {self.path})")
        config, x_shape = self.config, self.x_shape
        _, state = load_checkpoint(checkpoint)
        return trained_model(config, x_shape, state, resolve_device(device or config.train.device))

    @cached_property
    def model(self):
        """`load_model()`, loaded once."""
        return self.load_model()

    # -- metrics.jsonl and the lock
    def metrics_log(self, write: bool = True) -> MetricsLog:
        """The training log to append to (`write` false: one that writes nothing, as on a rank other than 0)."""
        return MetricsLog(self.metrics_path if write else None)

    def metrics(self) -> list[dict]:
        """The records of metrics.jsonl ([] before the first was logged)."""
        return read_metrics(self.metrics_path) if self.metrics_path.exists() else []

    def lock(self, command: str):
        """Own the directory for a block (`with run.lock("train"):`): one writer per run (run/lock.py)."""
        return hold(self.path, command)

    # -- results.json
    @property
    def results(self) -> dict | None:
        """results.json, or None before the run was evaluated."""
        if not self.results_path.exists() and not self.results_path.is_symlink():
            return None
        return read_json(self.results_path, todo=f"recompute it with latentlab eval {self.path}")

    def write_results(self, results: dict, out_dir: str | Path | None = None) -> Path:
        """Write results.json atomically into the run directory (or into `out_dir`); returns its path."""
        path = Path(out_dir) / self.results_path.name if out_dir else self.results_path
        atomic_write(path, json.dumps(results, indent=2))
        return path

    # -- in a notebook (reporting/card.py, notebook.py)
    def figures(self) -> list[str]:
        """The names of the figures the run wrote (figures/*.png, without .png), for `figure(name)`."""
        return sorted(p.stem for p in self.figures_dir.glob("*.png"))

    def figure(self, name: str):
        """The run's figure figures/<name>.png as an image a notebook displays."""
        from latentlab.display import figure

        return figure(self.figures_dir / f"{name}.png")

    def _repr_html_(self) -> str | None:
        """The run's card (model, data, step, results beside their reference, samples) as a cell's output."""
        from latentlab.reporting.card import run_card

        try:
            return run_card(self.path, self.step)
        except UserError:
            return None  # not (yet) a readable run: the plain repr says where it is
