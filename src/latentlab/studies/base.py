"""What every study shares: the budget check, the thread setting, train / resume / reuse of its runs with
a config check, an atomic summary.json and the report (its time in the pages' one duration format).

A study is a body `(s: Study, b: Budget) -> Path` under `@study(name, BUDGETS)`: `Budget` is the study's
own frozen dataclass of what its budgets change, and BUDGETS maps "quick", "standard" and "full" to one
each. The decorator gives the body the public signature
`run(out, budget, *, data_dir=None, device=None, quiet=False) -> Path` (the report).
Rerunning a study into the same folder reuses each finished run whose config is identical, resumes an
unfinished one from its newest checkpoint, and refuses (one line, exit 2) a run whose config differs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from latentlab import api
from latentlab.checks import Check
from latentlab.config import Config, differences
from latentlab.errors import UserError
from latentlab.registry import load_config
from latentlab.reporting.study import Section, write_study_report
from latentlab.files import atomic_write, make_dir
from latentlab.reporting.page import fmt_seconds
from latentlab.run import Run


@contextmanager
def study_threads() -> Iterator[int]:
    """Run a study's block with one intra-op thread unless OMP_NUM_THREADS is set; restores the count after.

    Studies train small networks in many short steps. On a 2-core CPU that other work shares, every
    parallel region waits for a descheduled second thread: the faces conv VAE step measured 550 ms
    with 2 threads and 50-60 ms with 1 under a load average of 5. On an idle machine a second thread
    can gain at most 2×: set OMP_NUM_THREADS=2 to have it.
    """
    before = torch.get_num_threads()
    threads = int(os.environ.get("OMP_NUM_THREADS") or 1)
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(before)


@dataclass
class Study:
    """One invocation of a study, handed to its body."""

    name: str
    out: Path
    budget: str
    data_dir: str | Path | None = None
    device: str | None = None
    quiet: bool = False
    threads: int = 1
    t0: float = field(default_factory=time.perf_counter)
    reused: list[str] = field(default_factory=list)  # keys of the finished runs this invocation reused

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.t0

    def log(self, message: str) -> None:
        if not self.quiet:
            print(f"[{self.name}] {message}", flush=True)

    def run(self, key: str, preset: str, overrides=(), *, evaluate: bool = True, quiet: bool | None = None) -> Run:
        """The run out/runs/<key> of `preset` with `overrides`: trained if new, resumed if unfinished, reused
        if finished with the same config; one with another config is refused. `evaluate`: results.json too."""
        run, overrides = Run(self.out / "runs" / key), list(overrides)
        how = train_or_reuse(run, preset, overrides, evaluate=evaluate, data_dir=self.data_dir,
                             device=self.device, quiet=self.quiet if quiet is None else quiet)
        if how == "reused":
            self.reused.append(key)
        self.log(f"{key}: {preset} {' '.join(overrides)} ({how})")
        return Run.open(run.path)

    def prior(self, key: str, parent: Run, kind: str, overrides=(), *, quiet: bool | None = None) -> Run:
        """The run out/runs/<key> of a `kind` latent prior fitted on `parent` with `overrides`, made as `latentlab
        prior` makes it (api.prior): fitted if new, resumed if unfinished, reused if finished with the same config;
        one with another config is refused."""
        run, overrides = Run(self.out / "runs" / key), list(overrides)
        how = prior_or_reuse(run, parent, kind, overrides, data_dir=self.data_dir, device=self.device,
                             quiet=self.quiet if quiet is None else quiet)
        if how == "reused":
            self.reused.append(key)
        self.log(f"{key}: prior {parent.path.name} --kind {kind} {' '.join(overrides)} ({how})")
        return Run.open(run.path)

    def model(self, run: Run):
        """The run's model (EMA weights where kept) on this study's device; no dataset is read."""
        return run.load_model(self.device)

    def finish(self, summary: dict, *, title: str, sections: list[Section], intro: str = "") -> Path:
        """Write summary.json (atomically) and report.html; returns the report's path."""
        summary = {"study": self.name, "budget": self.budget, **summary, "elapsed_s": round(self.elapsed_s, 1)}
        atomic_write(self.out / "summary.json", json.dumps(summary, indent=2, default=_jsonable))
        return write_study_report(self.out / "report.html", name=self.name, title=title, budget=self.budget,
                                  sections=sections, intro=intro, elapsed=fmt_seconds(summary["elapsed_s"]))


def study(name: str, budgets: Mapping[str, Any]) -> Callable[[Callable[..., Path]], Callable[..., Path]]:
    """Decorator: a body `(s: Study, b: Budget) -> Path` becomes `run(out, budget, *, data_dir, device, quiet)`."""
    def wrap(body: Callable[..., Path]) -> Callable[..., Path]:
        def run(out: str | Path, budget: str = "standard", *, data_dir=None, device=None, quiet: bool = False) -> Path:
            if budget not in budgets:
                raise UserError(f"study {name} has no budget '{budget}'; known: {', '.join(budgets)}")
            out = study_dir(out, name, budget)
            with study_threads() as threads:
                return body(Study(name, out, budget, data_dir, device, quiet, threads), budgets[budget])
        run.__doc__, run.study, run.budgets = body.__doc__, name, budgets
        return run
    return wrap


def study_dir(out: str | Path, name: str, budget: str) -> Path:
    """The study's folder, created if new; one holding a training run, or another study or budget, is refused."""
    out = Path(out)
    if Run(out).meta_path.exists() or Run(out).config_path.exists():
        raise UserError(f"{out} holds a training run, not a study: give the study another --out")
    try:
        before = json.loads((out / "summary.json").read_text())
        before = {"study": before.get("study", name), "budget": before.get("budget", budget)}
    except (OSError, ValueError, AttributeError):
        before = {"study": name, "budget": budget}
    if before != {"study": name, "budget": budget}:
        raise UserError(f"{out} holds the {before['budget']} budget of study {before['study']}: rerun that, "
                        "or give another --out")
    return make_dir(out)


def train_or_reuse(run: Run, preset: str, overrides: list[str], *, evaluate: bool, data_dir, device,
                   quiet: bool) -> str:
    """Train the run, resume it, or reuse it as it is; returns "trained", "resumed", "evaluated" or "reused"."""
    config, _ = load_config(preset, overrides)
    common = dict(data_dir=data_dir, device=device, quiet=quiet)
    if run.config_path.exists():
        how = _continue(run, config, evaluate=evaluate, common=common)
        if how:
            return how
    api.train(config, out=run.path, evaluate_after=evaluate, **common)
    return "trained"


def prior_or_reuse(run: Run, parent: Run, kind: str, overrides: list[str], *, data_dir, device, quiet: bool) -> str:
    """Fit a prior run, resume it, or reuse it as it is, as `train_or_reuse` does for a preset; returns how."""
    common = dict(data_dir=data_dir, device=device, quiet=quiet)
    if run.config_path.exists():
        _, config = api.prior_config(parent, kind=kind, overrides=overrides, data_dir=data_dir)
        how = _continue(run, config, evaluate=True, common=common)
        if how:
            return how
    api.prior(parent, kind=kind, overrides=overrides, out=run.path, **common)
    return "trained"


def _continue(run: Run, config: Config, *, evaluate: bool, common: dict) -> str | None:
    """Resume, evaluate or reuse a run that has a config (refused if it differs from `config`); None, with its
    files cleared, for one stopped before its first checkpoint (start it anew)."""
    run = Run.open(run.path)
    differs = first_difference(run.config, config)
    if differs:
        key, have, want = differs
        raise UserError(f"{run.path} was trained with {key} = {have!r}, this study asks for {want!r}: "
                        "give the study another --out, or delete that run")
    if run.latest_checkpoint() is not None:
        if not run.finished:  # interrupted: continue from its newest checkpoint
            api.train(None, resume=run.path, evaluate_after=evaluate, **common)
            return "resumed"
        if evaluate and run.results is None:  # interrupted between training and results
            api.evaluate(run.path, **common)
            return "evaluated"
        return "reused"
    for path in (run.meta_path, run.config_path, run.metrics_path):  # stopped before its first checkpoint
        path.unlink(missing_ok=True)
    return None


def first_difference(have: Config, want: Config) -> tuple[str, Any, Any] | None:
    """The first key (as `section.field`) whose value differs between two configs, with both values (for two
    different models: their names). The description is prose, not a setting: it may change between versions
    without changing a run."""
    for key, (a, b) in differences(have, want).items():
        if key == "model":  # the configs of two different models
            return "model.name", a.name, b.name
        if key != "description":
            return key, a, b
    return None


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Check):
        return obj.as_dict()
    if isinstance(obj, Path):
        return str(obj)
    return float(obj)  # numpy and torch scalars
