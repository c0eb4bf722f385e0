"""The Python API: the operations of the CLI, as thin functions over run directories (runs.py).

    run = latentlab.train("cs236_vae", overrides=["train.iterations=2000"])
    latentlab.evaluate(run); latentlab.sample(run, n=100); latentlab.report([run])

Every operation takes a run as a `Run` or as the path of its directory.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from latentlab import config as config_io
from latentlab import lockfile
from latentlab.config import Config
from latentlab.data import toy2d
from latentlab.data.augment import center_crop
from latentlab.data.datasets import ImageData
from latentlab.data.labelled import SemiSupervisedBatcher, labelled_subset
from latentlab.data.load import load
from latentlab.data.memory import as_arrays, save_memory
from latentlab.data.training import data_description, training_batcher
from latentlab.errors import UserError
from latentlab.evaluation.protocols import refuse_unfit_protocol
from latentlab.models.base import Classifier, ConditionalDecoder, Translator
from latentlab.registry import build_model, load_config
from latentlab.runs import FORMAT, Run
from latentlab.training import distributed, tensorboard
from latentlab.training.device import resolve_device
from latentlab.training.resume import check_resume
from latentlab.training.trainer import Trainer


def load_model(run: Run | str | Path, device: str | None = None, *, data_dir=None):
    """The model of a run directory: newest checkpoint, EMA weights if kept, eval mode. Reads no dataset."""
    return Run.open(run).load_model(device, data_dir=data_dir)


# ----------------------------------------------------------------------------- operations


def train(config: Config | str | Path, *, overrides: list[str] = (), out=None, resume=None, data_dir=None,
          device: str | None = None, quiet: bool = False, evaluate_after: bool = True, data=None) -> Path:
    """Train a config (a Config, a TOML path or a preset name), or resume a run directory; returns its path.

    `data`: train on arrays instead of the config's dataset: x, (x, y) or a dict with "x" and
    optionally "y", "x_test", "y_test" (NumPy arrays or tensors; see data/arrays.py). The run
    keeps a copy (data.safetensors, data.name = "memory"), so evaluate, sample, report and
    --resume work on it later.
    Under torchrun every rank runs this; rank 0 alone writes the run directory.
    """
    name, changed = "config", {}
    if resume is not None:
        if data is not None:
            raise UserError(f"data= starts a new run; --resume {resume} trains on the copy the run keeps")
        run = Run.open(resume)
        config = run.read_config(overrides)
        changed = check_resume(run.config, config, run.path)  # what --set changes, if the checkpoint can take it
    elif not isinstance(config, Config):
        config, name = load_config(config, overrides)
    else:
        config = config_io.check_config(config)
    arrays = None
    tensorboard.require(config.train.log)  # before any data is read or file written
    if data is not None:
        arrays = as_arrays(data)
        config = replace(config, data=replace(config.data, name="memory", path=""))
    world = distributed.init(resolve_device(device or config.train.device))
    try:
        if resume is None:
            run = Run(distributed.broadcast_object(str(Run.create(out, name).path) if world.is_main else None, world))
            if arrays is not None and world.is_main:
                save_memory(arrays, run.path)
            distributed.barrier(world)
        with lockfile.hold(run.path, "train") if world.is_main else contextlib.nullcontext():  # one writer per run
            return _train(config, run, world, resume is not None, data_dir, device, quiet, evaluate_after, changed)
    finally:
        distributed.shutdown(world)


def _setup(config: Config, data_dir, device_name: str | None, world: distributed.World = distributed.World(),
           run: Run | None = None):
    device = distributed.device_for(world, resolve_device(device_name or config.train.device))
    torch.manual_seed(config.train.seed)  # the same initial parameters on every rank
    data = _load(config, data_dir, device, run)
    model = build_model(config.model, model_shape(config, data)).to(device)
    if isinstance(model, (ConditionalDecoder, Classifier)) and data.train_y is not None \
            and int(data.train_y.max()) >= model.n_classes:  # conditional and semi-supervised models
        raise UserError(f"model.n_classes = {model.n_classes} is not accepted: at least the "
                        f"{int(data.train_y.max()) + 1} classes of \"{data.name}\"")
    refuse_unfit_protocol(model, config)
    if world.distributed:
        distributed.broadcast_parameters(model, world)
        torch.manual_seed(config.train.seed + 7919 * world.rank)  # each rank its own sampling noise
    return data, model


def _load(config: Config, data_dir, device, run: Run | None = None) -> ImageData:
    """The config's data; under data.crop the model sees crop x crop windows, and the test images are their centres."""
    data = load(config, data_dir, device, run=run)
    return replace(data, test_x=center_crop(data.test_x, config.data.crop)) if config.data.crop else data


def model_shape(config: Config, data: ImageData) -> tuple[int, ...]:
    """The shape of one x the model sees: the data's, or (C, crop, crop) under data.crop."""
    shape = tuple(data.train_x.shape[1:])
    return (shape[0], config.data.crop, config.data.crop) if config.data.crop else shape


def _batcher(config: Config, data: ImageData, model, world: distributed.World):
    """The batch stream `model` trains on: unpaired domains for a translator, else the data (plus the
    labelled stream of semi-supervised training)."""
    batcher = training_batcher(data, config, world.rank, world.size, unpaired=isinstance(model, Translator))
    if config.data.labelled != "none":  # semi-supervised: the whole labelled set beside each unlabelled batch
        x_l, y_l = labelled_subset(config.data.labelled, data.train_x, data.train_y,
                                   per_class=config.data.labels_per_class, seed=config.data.labelled_seed)
        batcher = SemiSupervisedBatcher(batcher, x_l, y_l, seed=config.train.seed,
                                        binarization=config.data.binarize, binarize_seed=config.data.binarize_seed)
    return batcher


def _train(config: Config, run: Run, world: distributed.World, resume: bool, data_dir, device, quiet,
           evaluate_after, changed: dict) -> Path:
    data, model = _setup(config, data_dir, device, world, run=run)
    if world.is_main:
        run.write_meta(**data_description(data))  # the data's shape (a model loads without its dataset), classes, ...
        if not resume:
            run.write_config(config)
    batcher = _batcher(config, data, model, world)
    examples = _image_examples(config, data, model) if "tensorboard" in config.train.log else None
    trainer = Trainer(model, batcher, config.train, run.path, quiet=quiet, world=world, examples=examples)
    if resume and not trainer.resume():  # stopped before its first checkpoint: step 0 is the seeded start
        trainer.metrics.truncate_after(0)
        if world.is_main:
            print(f"latentlab: {run.path} has no checkpoint yet; training it from step 0", file=sys.stderr)
    if resume and config.train.iterations < trainer.step:
        raise UserError(f"train.iterations = {config.train.iterations} is below step {trainer.step}, where "
                        f"{run.path} already is; give at least {trainer.step}")
    if resume and changed and world.is_main:
        run.record_resume(config, trainer.step, changed)
    trainer.fit()
    if trainer.ema is not None:  # evaluate the averaged weights, as Run.load_model does
        model.load_state_dict(trainer.ema, strict=False)
    if evaluate_after and world.is_main:
        _evaluate(run, model, data, config, quiet=quiet, train_s=trainer.elapsed)
    distributed.barrier(world)
    return run.path


def _image_examples(config: Config, data: ImageData, model, n: int = 8) -> dict:
    """The fixed batch of TensorBoard's grids: the first n training x (a translator: of each domain, as x and
    x_b; a sampler reads only their shape), float in [0, 1] and centre-cropped to data.crop, as the model sees them."""
    x = data.train_x
    if isinstance(model, Translator):
        batch = {key: x[(data.train_y == label).nonzero()[:n, 0]] for key, label in (("x", 0), ("x_b", 1))}
    else:
        batch = {"x": x[:n]}
    batch = {k: v.float() / 255 if v.dtype == torch.uint8 else v for k, v in batch.items()}
    return {k: center_crop(v, config.data.crop) if config.data.crop else v for k, v in batch.items()}


def evaluate(run: Run | str | Path, *, out=None, data_dir=None, device=None, quiet: bool = False) -> dict:
    """Recompute results.json (into `out`, default the run directory), the figures and the report of a run.

    Returns the results: {"sections": {name: {metric: value}}, "checks": [...], "step", "model", ...}."""
    run = Run.open(run)
    with lockfile.hold(run.path, "eval"):  # not while another process trains or evaluates it
        model = run.load_model(device, data_dir=data_dir)
        return _evaluate(run, model, _load(run.config, data_dir, device, run), run.config, out=out, quiet=quiet)


def _evaluate(run: Run, model, data: ImageData, config: Config, *, out=None, quiet: bool,
              train_s: float | None = None) -> dict:
    """The evaluation protocol of `config` on `model` (seeded by train.seed), then figures and report."""
    from latentlab.evaluation.explorer import write_explorer
    from latentlab.evaluation.figures import draw_all
    from latentlab.evaluation.protocols import evaluate as run_protocol
    from latentlab.reporting.html import write_report

    model.eval()
    t0 = time.perf_counter()
    torch.manual_seed(config.train.seed)  # the same numbers every time a run is evaluated
    results = {"format": FORMAT, "run": run.path.name, "model": config.model.name, "step": run.step,
               **run_protocol(model, data, config, quiet=quiet)}
    results["elapsed"] = {"eval_s": round(time.perf_counter() - t0, 1)}
    if train_s is not None:
        results["elapsed"]["train_s"] = round(train_s, 1)
    run.write_results(results, out_dir=out)
    if "tensorboard" in config.train.log:
        try:
            tensorboard.write_hparams(run.tensorboard_dir, config, results, run.step)
        except UserError as e:  # evaluating elsewhere, without the package: the results do not need it
            print(f"latentlab: results.json written; no TensorBoard hparams: {e}", file=sys.stderr)
    if config.eval.figures:
        draw_all(model, data.test_x, data.test_y, run.figures_dir, run.metrics_path, seed=config.train.seed,
                 data_name=data.name, feature_mean=data.feature_mean, feature_std=data.feature_std)
        write_explorer(model, data.test_x, data.test_y, run.explorer_path, classes=data.classes, seed=config.train.seed)
    write_report([run.path], run.report_path)
    return results


def sample(run: Run | str | Path, *, n: int = 200, out=None, seed: int = 0, device=None, data_dir=None) -> Path:
    """Draw n samples from a trained run and write them as PNG grids into `out` (default run/samples).

    Reads no dataset (`data_dir` serves only runs from before run.json stored the data's shape)."""
    from latentlab.models.base import Decoder, LatentPrior
    from latentlab.evaluation.figures import likelihood_of
    from latentlab.viz.figures import sample_grid

    run = Run.open(run)
    config, model = run.config, run.load_model(device, data_dir=data_dir)
    out = Path(out) if out else run.samples_dir
    g = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    with torch.no_grad():
        if isinstance(model, Decoder) and isinstance(model, LatentPrior):
            z = model.sample_z(n, generator=g)
            mean, draws = model.decode(z), model.sample_x_given_z(z, generator=g)
        else:
            mean, draws = model.sample(n, generator=g), None
    if config.data.name in toy2d.DISTRIBUTIONS:  # 2-D points: a scatter beside as many real draws
        from latentlab.viz.fields import samples_vs_data

        real = toy2d.sample(config.data.name, n, torch.Generator().manual_seed(seed))
        return samples_vs_data(real, {config.model.name: mean.cpu()}, out / f"samples-seed{seed}.png")
    if mean.dim() == 2:  # a table: the draws x ~ p(x) as CSV, in the original units
        return write_table_samples(draws if draws is not None else mean, run, out / f"samples-seed{seed}.csv")
    return sample_grid(mean.clamp(0, 1).cpu(), None if draws is None else draws.clamp(0, 1).cpu(),
                       out / f"samples-seed{seed}.png", likelihood=likelihood_of(model))


def write_table_samples(x: torch.Tensor, run: Run, path: Path) -> Path:
    """Rows x (N, D) as CSV, un-standardised with the statistics in run.json where the run has them."""
    import numpy as np

    from latentlab.files import atomic_write

    stats = run.meta.get("standardize")
    x = x.detach().cpu().double().numpy()
    if stats:
        x = x * np.asarray(stats["std"]) + np.asarray(stats["mean"])
    header = ",".join(f"x{i}" for i in range(x.shape[1]))
    return atomic_write(path, header + "\n" + "\n".join(",".join(f"{v:.6g}" for v in row) for row in x) + "\n")


def report(runs: list[Run | str | Path], out=None) -> Path:
    """One report.html for one run (default: inside it) or comparing several (default: ./report.html)."""
    from latentlab.reporting.html import write_report

    runs = [Run(r) for r in runs]
    out = Path(out) if out else (runs[0].report_path if len(runs) == 1 else Path("report.html"))
    return write_report([r.path for r in runs], out)
