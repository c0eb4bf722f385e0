"""The Python API: the operations of the CLI on run directories.

    run = latentlab.train("cs236_vae", overrides=["train.iterations=2000"])
    latentlab.evaluate(run); latentlab.sample(run, n=100); latentlab.report([run])
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from latentlab import config as config_io
from latentlab.config import Config
from latentlab.data import toy2d
from latentlab.data.batcher import Batcher
from latentlab.data.datasets import ImageData, load_images
from latentlab.data.labelled import SemiSupervisedBatcher, labelled_subset
from latentlab.data.root import data_root
from latentlab.errors import UserError
from latentlab.files import atomic_write, make_dir
from latentlab.registry import build_model
from latentlab.training.checkpoint import latest_checkpoint, load_checkpoint
from latentlab.training import distributed
from latentlab.training.device import resolve_device
from latentlab.training.trainer import Trainer

RUN_FORMAT = 1  # bump when the layout of a run directory changes


def _version() -> str:
    from latentlab import __version__

    return __version__


# ----------------------------------------------------------------------------- run directories


def new_run_dir(out: str | Path | None, name: str) -> Path:
    run = Path(out) if out else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (run / "run.json").exists() or (run / "config.toml").exists():
        raise UserError(f"{run} already holds a run; continue it with --resume {run}, or choose another --out")
    return make_dir(run)


def read_run(run: str | Path, overrides: list[str] = ()) -> Config:
    """The config of an existing run directory, checked against this version's schema."""
    run = Path(run)
    if not run.is_dir():
        raise UserError(f"run directory {run} does not exist")
    meta_path = run / "run.json"
    if not meta_path.exists():
        raise UserError(f"{run} is not a latentlab run directory, or one written by an older version (no run.json)")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError:
        raise UserError(f"{meta_path} is corrupt (not JSON)") from None
    if meta.get("format") != RUN_FORMAT:
        raise UserError(f"{run} was written by latentlab {meta.get('latentlab', '?')} (run format "
                        f"{meta.get('format')}); this version reads format {RUN_FORMAT}: train it again")
    try:
        raw, _ = config_io.read_toml(run / "config.toml")
        return config_io.build(config_io.apply_overrides(raw, list(overrides)))
    except UserError as e:
        raise UserError(f"{run}/config.toml: {e}") from None


def _resized(data: ImageData, size: tuple[int, ...]) -> ImageData:
    """The images downsampled to size = (H, W) by area averaging (each output pixel the mean of its
    input area, `F.interpolate(mode="area")`); an empty size keeps them as they are."""
    if not size:
        return data
    if len(size) != 2 or min(size) < 1:
        raise UserError(f"data.image_size must be [H, W] with H, W >= 1 (or [] for the native size), got {list(size)}")
    if data.train_x.dim() != 4:
        raise UserError(f"data.image_size applies to images; \"{data.name}\" is not an image dataset: use []")
    area = {k: torch.nn.functional.interpolate(getattr(data, k), size=tuple(size), mode="area")
            for k in ("train_x", "test_x")}
    return replace(data, **area)


def _load_data(config: Config, data_dir, device: torch.device) -> ImageData:
    if config.data.name in toy2d.DISTRIBUTIONS:  # generated: x is (N, 2)
        if config.data.binarize != "none":
            raise UserError(f"data.binarize = \"{config.data.binarize}\" is for images; the 2-D distribution "
                            f"\"{config.data.name}\" needs data.binarize = \"none\"")
        data = toy2d.load_toy2d(config.data.name, config.data.n_train, config.data.n_test, config.data.seed)
    else:
        data = _resized(load_images(config.data.name, data_root(data_dir)), config.data.image_size)
    return replace(data, **{k: v.to(device) for k, v in vars(data).items() if isinstance(v, torch.Tensor)})


def _setup(config: Config, data_dir, device_name: str | None, world: distributed.World = distributed.World()):
    device = distributed.device_for(world, resolve_device(device_name or config.train.device))
    torch.manual_seed(config.train.seed)  # the same initial parameters on every rank
    data = _load_data(config, data_dir, device)
    model = build_model(config.model, tuple(data.train_x.shape[1:])).to(device)
    if world.distributed:
        distributed.broadcast_parameters(model, world)
        torch.manual_seed(config.train.seed + 7919 * world.rank)  # each rank its own sampling noise
    return device, data, model


def load_model(run: str | Path, device: str | None = None, data_dir=None):
    """(config, model with the newest checkpoint's weights, data) of a run directory."""
    config = read_run(run)
    ckpt = latest_checkpoint(Path(run) / "checkpoints")
    if ckpt is None:
        raise UserError(f"{run} has no checkpoint yet: train it first (latentlab train --resume {run})")
    _, data, model = _setup(config, data_dir, device)
    _, state = load_checkpoint(ckpt)
    model.load_state_dict(state["model"])
    if "ema" in state:  # evaluate the averaged weights
        model.load_state_dict(state["ema"], strict=False)
    return config, model.eval(), data


# ----------------------------------------------------------------------------- operations


def train(config: Config | str | Path, *, overrides: list[str] = (), out=None, resume=None, data_dir=None,
          device: str | None = None, quiet: bool = False, evaluate_after: bool = True) -> Path:
    """Train a config (a Config, a TOML path or a preset name), or resume a run directory.

    Under torchrun every rank runs this; rank 0 alone writes the run directory.
    """
    name = "config"
    if resume is not None:
        config = read_run(resume, overrides)
    elif not isinstance(config, Config):
        config, name = config_io.load(config, overrides)
    world = distributed.init(resolve_device(device or config.train.device))
    try:
        run = Path(resume) if resume is not None else Path(
            distributed.broadcast_object(str(new_run_dir(out, name)) if world.is_main else None, world))
        return _train(config, run, world, resume is not None, data_dir, device, quiet, evaluate_after)
    finally:
        distributed.shutdown(world)


def _train(config: Config, run: Path, world: distributed.World, resume: bool, data_dir, device, quiet,
           evaluate_after) -> Path:
    dev, data, model = _setup(config, data_dir, device, world)
    if world.is_main:
        if not resume:
            atomic_write(run / "run.json", json.dumps({"format": RUN_FORMAT, "latentlab": _version()}))
        atomic_write(run / "config.toml", config_io.to_toml(config))
    tensors = {"x": data.train_x} if data.train_y is None else {"x": data.train_x, "y": data.train_y}
    batcher = Batcher(tensors, config.train.batch_size, seed=config.train.seed,
                      binarization=config.data.binarize, binarize_seed=config.data.binarize_seed,
                      rank=world.rank, world_size=world.size)
    if config.data.labelled != "none":  # semi-supervised: the whole labelled set beside each unlabelled batch
        x_l, y_l = labelled_subset(config.data.labelled, data.train_x, data.train_y,
                                   per_class=config.data.labels_per_class, seed=config.data.labelled_seed)
        batcher = SemiSupervisedBatcher(batcher, x_l, y_l, seed=config.train.seed,
                                        binarization=config.data.binarize, binarize_seed=config.data.binarize_seed)
    trainer = Trainer(model, batcher, config.train, run, quiet=quiet, world=world)
    if resume and not trainer.resume():
        raise UserError(f"{run} has no checkpoint to resume from; start it again with latentlab train")
    trainer.fit()
    if trainer.ema is not None:  # evaluate the averaged weights, as load_model does
        model.load_state_dict(trainer.ema, strict=False)
    if evaluate_after and world.is_main:
        evaluate(run, model=model, config=config, data=data, quiet=quiet, train_s=trainer.elapsed)
    distributed.barrier(world)
    return run


def evaluate(run: str | Path, *, out=None, data_dir=None, device=None, quiet=False,
             model=None, config=None, data=None, train_s: float | None = None) -> dict:
    """Recompute results.json (and the figures and report) of a run directory."""
    from latentlab.evaluation.figures import draw_all
    from latentlab.evaluation.protocols import evaluate as run_protocol
    from latentlab.reporting.html import write_report

    run = Path(run)
    if model is None:
        config, model, data = load_model(run, device, data_dir)
    model.eval()
    step, _ = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    t0 = time.perf_counter()
    torch.manual_seed(config.train.seed)  # the same numbers every time a run is evaluated
    results = {"format": RUN_FORMAT, "run": run.name, "model": config.model.name, "step": step,
               **run_protocol(model, data, config, quiet=quiet)}
    results["elapsed"] = {"eval_s": round(time.perf_counter() - t0, 1)}
    if train_s is not None:
        results["elapsed"]["train_s"] = round(train_s, 1)
    out_dir = Path(out) if out else run
    atomic_write(out_dir / "results.json", json.dumps(results, indent=2))
    if config.eval.figures:
        draw_all(model, data.test_x, data.test_y, run / "figures", run / "metrics.jsonl", seed=config.train.seed,
                 data_name=data.name)
    write_report([run], run / "report.html")
    return results


def sample(run: str | Path, *, n: int = 200, out=None, seed: int = 0, device=None, data_dir=None) -> Path:
    """Draw n samples from a trained run and write them as PNG grids into `out` (default run/samples)."""
    from latentlab.models.base import Decoder, LatentPrior
    from latentlab.viz.figures import sample_grid

    config, model, _ = load_model(run, device, data_dir)
    out = Path(out) if out else Path(run) / "samples"
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
    return sample_grid(mean.clamp(0, 1).cpu(), None if draws is None else draws.clamp(0, 1).cpu(),
                       out / f"samples-seed{seed}.png")


def report(runs: list[str | Path], out=None) -> Path:
    """One report.html for one run (default: inside it) or comparing several (default: ./report.html)."""
    from latentlab.reporting.html import write_report

    runs = [Path(r) for r in runs]
    out = Path(out) if out else (runs[0] / "report.html" if len(runs) == 1 else Path("report.html"))
    return write_report(runs, out)
