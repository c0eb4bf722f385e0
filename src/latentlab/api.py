"""The Python API: the operations of the CLI, as thin functions over run directories (run/) and the data
a config names (data/handoff.py).

    run = latentlab.train("cs236_vae", overrides=["train.iterations=2000"])
    latentlab.evaluate(run); latentlab.sample(run, n=100); latentlab.report([run])
    result = latentlab.study("vae-2d", budget="quick")

In a notebook, a run and a study's result show as cards; latentlab.show / explorer / figure
(notebook.py) show a report, the latent explorer and a figure inline.

Every operation takes a run as a `Run` or as the path of its directory.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

import torch

from latentlab import config as config_io
from latentlab.config import Config
from latentlab.data.handoff import Data, prepare
from latentlab.data.memory import as_arrays, save_memory
from latentlab.device import resolve_device
from latentlab.errors import UserError
from latentlab.evaluation.protocols import refuse_unfit
from latentlab.evaluation.run_evaluation import evaluate_run
from latentlab.models.base import Classifier
from latentlab.registry import build_model, checked, load_config
from latentlab.run import Run
from latentlab.training import distributed, tensorboard
from latentlab.training.trainer import Trainer


def load_model(run: Run | str | Path, device: str | None = None):
    """The model of a run directory: newest checkpoint, EMA weights if kept, eval mode. Reads no dataset."""
    return Run.open(run).load_model(device)


def train(config: Config | str | Path, *, overrides: list[str] = (), out=None, resume=None, data_dir=None,
          device: str | None = None, quiet: bool = False, evaluate_after: bool = True, data=None) -> Run:
    """Train a config (a Config, a TOML path or a preset name), or resume a run directory; returns the
    `Run` (which stands wherever its directory's path did).

    `data`: train on arrays instead of the config's dataset: x, (x, y) or a dict with "x" and optionally
    "y", "x_test", "y_test" (NumPy arrays, tensors, pandas DataFrames; see data/arrays.py). The run keeps
    a copy (data.name = "memory"), so evaluate, sample, report and --resume work on it later.
    Under torchrun every rank runs this; rank 0 alone writes the run directory.
    """
    name, changed, file_data = "config", {}, None
    if resume is not None:
        if data is not None:
            raise UserError(f"data= starts a new run; --resume {resume} trains on the copy the run keeps")
        run = Run.open(resume)
        config, changed = run.resumed_config(overrides)  # what --set changes, if the checkpoint can take it
    elif not isinstance(config, Config):
        file_data = config_io.file_data(config)  # the data the file's own description speaks of
        in_memory = ['data.name="memory"', 'data.path=""'] if data is not None else []  # checked on what it trains on
        config, name = load_config(config, [*overrides, *in_memory])
    else:
        config = checked(config if data is None else replace(config, data=replace(config.data, name="memory", path="")))
    tensorboard.require(config.train.log)  # before any data is read or file written
    arrays, columns = (None, ()) if data is None else as_arrays(data)
    if arrays is not None:
        config = replace(config, data=replace(config.data, name="memory", path=""))
    retold = file_data is not None and file_data != (config.data.name, config.data.path)
    origin = f"settings of {name}, written for {file_data[0]}" if retold else ""
    world = distributed.init(resolve_device(device or config.train.device))
    try:
        if resume is None:
            run = Run(distributed.broadcast_object(str(Run.create(out, name).path) if world.is_main else None, world))
            if arrays is not None and world.is_main:
                save_memory(arrays, run.arrays_path, columns)
            distributed.barrier(world)
        with run.lock("train") if world.is_main else contextlib.nullcontext():  # one writer per run
            _train(config, run, world, resume is not None, data_dir, device, quiet, evaluate_after, changed, origin)
        return run
    finally:
        distributed.shutdown(world)


def _train(config: Config, run: Run, world: distributed.World, resume: bool, data_dir, device, quiet,
           evaluate_after, changed: dict, origin: str) -> None:
    """`origin`: where the settings of a run on other data than its config file's came from; the run's
    description then says what it trains on instead of repeating the file's."""
    device = distributed.device_for(world, resolve_device(device or config.train.device))
    torch.manual_seed(config.train.seed)  # the same initial parameters on every rank
    data = prepare(config, data_dir, device, run=run)
    data.check_unchanged(run, accept=config.data.accept_changed, doing="training",
                         override="resume on them with --set data.accept_changed=true")
    if origin:
        config = replace(config, description=f"{config.model.name} on {data.summary()}; {origin}")
    model = build_model(config.model, data.x_shape).to(device)
    refuse_unfit(model, data)  # before any training: the protocol, and labels for a model that reads them
    data.check_labels(f"model.name = \"{config.model.name}\"", needed="y" in model.batch_keys,
                      n_classes=model.n_classes if "y" in model.batch_keys or isinstance(model, Classifier) else None)
    if world.distributed:
        distributed.broadcast_parameters(model, world)
        torch.manual_seed(config.train.seed + 7919 * world.rank)  # each rank its own sampling noise
    if world.is_main:
        run.write_meta(**data.describe())  # the data's kind, shape (a model loads without its dataset), ...
        if not resume:
            run.write_config(config)
    stream = data.batches(config.train, world.rank, world.size, keys=model.batch_keys)
    examples = data.examples(keys=model.batch_keys) if "tensorboard" in config.train.log else None
    trainer = Trainer(model, stream, config.train, run, quiet=quiet, world=world, examples=examples)
    if resume:
        trainer.resume()
    if resume and changed and world.is_main:
        run.record_resume(config, trainer.step, changed)
    trainer.fit()
    if trainer.ema is not None:  # evaluate the averaged weights, as Run.load_model does
        model.load_state_dict(trainer.ema, strict=False)
    if evaluate_after and world.is_main:
        evaluate_run(run, model, data, config, quiet=quiet, train_s=trainer.elapsed)
    distributed.barrier(world)


def evaluate(run: Run | str | Path, *, out=None, data_dir=None, device=None, quiet: bool = False,
             accept_changed_data: bool = False) -> dict:
    """Recompute results.json (into `out`, default the run directory), the figures and the report of a run.
    Data that changed since the run trained are refused unless `accept_changed_data` (or the run's
    data.accept_changed) says to evaluate on them anyway.

    Returns the results: {"sections": {name: {metric: value}}, "checks": [...], "step", "model", ...}."""
    run = Run.open(run)
    with run.lock("eval"):  # not while another process trains or evaluates it
        model, data = run.load_model(device), prepare(run.config, data_dir, device, run=run)
        data.check_unchanged(run, accept=accept_changed_data or run.config.data.accept_changed, doing="evaluating",
                             override="evaluate on them anyway with --accept-changed-data")
        return evaluate_run(run, model, data, run.config, out=out, quiet=quiet)


def sample(run: Run | str | Path, *, n: int = 200, out=None, seed: int = 0, device=None) -> Path:
    """Draw n samples from a trained run into `out` (default run/samples): a PNG grid for images, a
    scatter beside real draws for 2-D points, a CSV in the original units for a table. Reads no dataset."""
    from latentlab.evaluation.sample_files import sample_run

    return sample_run(Run.open(run), n=n, out=out, seed=seed, device=device)


def report(runs: list[Run | str | Path], out=None) -> Path:
    """One report.html for one run (default: inside it) or comparing several (default: ./report.html)."""
    from latentlab.reporting.html import write_report

    runs = [Run(r) for r in runs]
    out = Path(out) if out else (runs[0].report_path if len(runs) == 1 else Path("report.html"))
    return write_report([r.path for r in runs], out)


def study(name: str, *, budget: str = "standard", out=None, data_dir=None, device=None, quiet: bool = False):
    """Run the study `name` (as `latentlab study NAME --budget B`) into `out` (default runs/study-<name>-<time>);
    returns its `StudyResult` (studies/result.py): summary.json, report.html, and a card in a notebook.
    Budgets: "quick" (seconds to a minute), "standard" (minutes on a 2-core CPU), "full" (the original protocol)."""
    from latentlab.run import default_dir
    from latentlab.studies import studies
    from latentlab.studies.result import StudyResult

    known = studies()
    if name not in known:
        raise UserError(f"unknown study '{name}'; known: {', '.join(known)}")
    report_path = known[name].run(out or default_dir(f"study-{name}"), budget, data_dir=data_dir, device=device,
                                  quiet=quiet)
    return StudyResult(Path(report_path).parent)


# what each kind of latent prior trains for by default (`--set train.…` changes it): the mixture is fitted by EM
# in one iteration on one batch that holds the whole training set; the others train on batches of codes
PRIOR_TRAIN = {"gmm": {"iterations": 1, "lr": 1e-3},
               "two-stage": {"iterations": 3_000, "batch_size": 256, "lr": 1e-3},
               "diffusion": {"iterations": 20_000, "batch_size": 256, "lr": 1e-3}}


def prior(run: Run | str | Path, *, kind: str, overrides: list[str] = (), out=None, data_dir=None,
          device: str | None = None, quiet: bool = False, evaluate_after: bool = True) -> Run:
    """Fit a latent prior ("gmm", "two-stage" or "diffusion"; models/latent_prior.py) on the codes of the
    trained run `run`, in a run directory of its own (default runs/<parent>-prior-<kind>-<time>); returns it.

    Its config names the parent (model.parent) and repeats the parent's [data], so evaluate, sample,
    report and --resume work on it as on any run. The parent's directory is only read: a parent trained on
    arrays handed to the API has its copy of them copied. A parent without an encoder and a decoder, or
    unfinished, or damaged, is refused (UserError) before anything is written."""
    parent, config = prior_config(run, kind=kind, overrides=overrides, data_dir=data_dir)
    target = Run.create(out, f"{parent.name}-prior-{kind}")
    if config.data.name == "memory":
        save_copy = parent.arrays_path.read_bytes()
        target.arrays_path.write_bytes(save_copy)
    return train(config, out=target.path, data_dir=data_dir, device=device, quiet=quiet, evaluate_after=evaluate_after)


def prior_config(run: Run | str | Path, *, kind: str, overrides: list[str] = (),
                 data_dir=None) -> tuple[Run, Config]:
    """(the parent run, checked by `open_parent`; the config of a `kind` prior fitted on it): what `prior` trains.
    Nothing is written."""
    if kind not in PRIOR_TRAIN:
        raise UserError(f"--kind {kind} is not accepted: one of {', '.join(PRIOR_TRAIN)}")
    parent = open_parent(run)
    _, raw = parent.read_toml()
    train_raw = {**PRIOR_TRAIN[kind], "seed": raw["train"].get("seed", 0), "device": raw["train"].get("device", "auto")}
    if kind == "gmm":  # one batch of every training image
        train_raw["batch_size"] = len(prepare(parent.config, data_dir, "cpu", run=parent).train_x)
        train_raw["ema"] = 0.0
    eval_raw = {"protocol": "latent_prior", "iwae_k": [1, 10], "iwae_repeats": [1, 1],
                **{k: raw["eval"][k] for k in ("classifier", "n_test", "test_binarize_seed", "figures") if k in raw["eval"]}}
    table = {"model": {"name": "latent_prior", "kind": kind, "parent": str(parent.path.resolve())},
             "data": raw["data"], "train": train_raw, "eval": eval_raw}
    from latentlab.registry import build_config

    return parent, build_config(config_io.apply_overrides(table, list(overrides)))


def open_parent(path) -> Run:
    """The parent run of a latent prior: readable, finished, and a model with an encoder q(z|x) and a decoder
    p(x|z) (or q(z|x, y) and p(x|y, z): a prior per label); else a UserError in one line saying why and what to
    do. Nothing is written."""
    from latentlab.registry import parent_model

    try:
        parent = Run.open(path)
        config, step = parent.config, parent.step
    except UserError as e:
        raise UserError(f"model.parent = {path} cannot be read: {e}") from None
    if step < config.train.iterations:
        raise UserError(f"model.parent = {path} is unfinished (step {step} of {config.train.iterations}): "
                        f"finish it first with latentlab train --resume {path}")
    parent_model(str(parent.path), parent.x_shape)  # loads its newest checkpoint: refuses a damaged one
    return parent
