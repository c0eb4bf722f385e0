"""TensorBoard event files of a run (`<run>/tensorboard/`), written beside metrics.jsonl when
train.log holds "tensorboard".

Tags, at the steps of metrics.jsonl:
- `<phase>/<term>`: the window means of metrics.jsonl, the same numbers (stored as float32);
- `lr/<phase>`: each phase's learning rate at that step;
- `throughput/iterations_per_s`, `throughput/examples_per_s`: over the window, the time spent
  drawing grids left out; examples = train.batch_size per phase step (each draws its own batch).
Every train.image_every steps and at the last one, from a fixed seed (the same z each time, so
the grid shows the model change), for image data: `samples`, 64 draws x ~ p(x) (a latent-variable
model: the decoder's means at z ~ p(z), as the top grid of `latentlab sample`; for a conditional
one E[x|y, z] with a row per label y and a column per shared z, as the conditional figure of
evaluation/figures.py), or `translations` for a translator: rows x, G(x), x_b, F(x_b) of
8 fixed training images per domain. 2-D points and tables get no images; the evaluation draws
their figures. After an evaluation, `write_hparams` adds the config's scalars as
hparams with the numbers of the results' first section as `eval/<section>/<metric>`.

A resumed run opens its writer with purge_step = step + 1, so TensorBoard drops what a stopped
run logged after its checkpoint; the checkpoint's own step is logged before it is saved and stays.
torch.utils.tensorboard is imported only when asked for: without the package, one UserError.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from latentlab.batch import Batch
from latentlab.config import SECTIONS, Config
from latentlab.errors import UserError
from latentlab.fields import show
from latentlab.models.base import ConditionalDecoder, Decoder, GenerativeModel, LatentPrior, Translator
from latentlab.viz.grid import image_grid

N_SAMPLES = 64  # an 8 x 8 grid; a conditional model: n_classes rows of 64 // n_classes columns


def summary_writer_class() -> type:
    """torch's SummaryWriter, or a UserError saying how to install the extra."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("train.log asks for \"tensorboard\", which is not installed: pip install "
                        "'latentlab[tensorboard]' (or leave \"tensorboard\" out of train.log)") from None
    return SummaryWriter


def require(log: tuple[str, ...]) -> None:
    """A UserError saying how to install the extra if train.log = `log` asks for TensorBoard and it is missing."""
    if "tensorboard" in log:
        summary_writer_class()


class TensorBoardLog:
    """The SummaryWriter of `folder` (a run's `Run.tensorboard_dir`) for a run at `step`, `seconds` into
    training; folder None writes nothing (TensorBoard off, no run directory, or not rank 0). A context
    manager: leaving it, by the end or by an exception, flushes and closes the files."""

    def __init__(self, folder: Path | None, *, step: int = 0, seconds: float = 0.0, examples_per_iteration: int = 0,
                 seed: int = 0):
        self.writer = None if folder is None else summary_writer_class()(log_dir=str(folder), purge_step=step + 1)
        self.examples_per_iteration, self.seed = examples_per_iteration, seed
        self.since = (step, seconds)  # the start of the throughput window
        self.drawing_s = 0.0  # seconds spent on grids within the window

    def __enter__(self) -> TensorBoardLog:
        return self

    def __exit__(self, *exc) -> None:
        if self.writer is not None:
            self.writer.close()

    def record(self, record: dict) -> None:
        """One metrics.jsonl record as `<phase>/<term>` at its step."""
        if self.writer is None:
            return
        for term, value in record.items():
            if term not in ("step", "phase", "time"):
                self.writer.add_scalar(f"{record['phase']}/{term}", value, record["step"])

    def progress(self, step: int, seconds: float, lrs: dict[str, float]) -> None:
        """`lr/<phase>` at `step`, and the iterations and examples per second since the previous call."""
        if self.writer is None:
            return
        for phase, lr in lrs.items():
            self.writer.add_scalar(f"lr/{phase}", lr, step)
        step_0, seconds_0 = self.since
        training_s = seconds - seconds_0 - self.drawing_s
        if step > step_0 and training_s > 0:
            rate = (step - step_0) / training_s
            self.writer.add_scalar("throughput/iterations_per_s", rate, step)
            self.writer.add_scalar("throughput/examples_per_s", rate * self.examples_per_iteration, step)
        self.since, self.drawing_s = (step, seconds), 0.0

    def images(self, model: GenerativeModel, examples: Batch | None, step: int) -> None:
        """The grid of `progress_grid` at `step`, if the data are images."""
        if self.writer is None or examples is None:
            return
        t0 = time.perf_counter()
        drawn = progress_grid(model, examples, self.seed)
        if drawn is not None:
            tag, grid = drawn
            self.writer.add_image(tag, grid, step, dataformats="HW" if grid.ndim == 2 else "HWC")
        self.drawing_s += time.perf_counter() - t0


def progress_grid(model: GenerativeModel, examples: Batch, seed: int) -> tuple[str, np.ndarray] | None:
    """("samples" or "translations", a uint8 grid) for image data `examples` (a fixed batch on the
    training device), None for points and tables. Drawn in eval mode without gradients from a
    torch.Generator seeded `seed`, with the global random state forked: the training stream of
    random numbers is the same with and without the grids. The model's mode is restored."""
    x = examples["x"]
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        return None
    device, was_training = x.device, model.training
    accelerator = [] if device.type == "cpu" else [device]  # the CPU's state is forked in any case
    model.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(accelerator, device_type=device.type if accelerator else None):
            if isinstance(model, Translator):
                rows = [x, model.translate(x=x), examples["x_b"], model.translate(x_b=examples["x_b"])]
                return "translations", image_grid(torch.cat(rows), nrow=len(x))
            g = torch.Generator(device=device).manual_seed(seed)
            if isinstance(model, LatentPrior) and isinstance(model, ConditionalDecoder):  # a row per label y,
                n_y = model.n_classes                                                  # a column per shared z
                n_z = max(1, N_SAMPLES // n_y)
                z = model.sample_z(n_z, g).repeat(n_y, 1)  # (Y·S, Z): z_0..z_{S-1} in every row
                y = torch.arange(n_y, device=device).repeat_interleave(n_z)  # (Y·S,): label i along row i
                return "samples", image_grid(model.decode_given_y(z, y), nrow=n_z)
            if isinstance(model, LatentPrior) and isinstance(model, Decoder):
                return "samples", image_grid(model.decode(model.sample_z(N_SAMPLES, g)), nrow=8)
            return "samples", image_grid(model.sample(N_SAMPLES, generator=g), nrow=8)
    finally:
        model.train(was_training)


def write_hparams(folder: Path, config: Config, results: dict, step: int) -> None:
    """The config's numbers, strings and bools (as "true" and "false", which torch would make 1 and 0) as
    hparams ("train.lr", ...), with the numbers of the results' first section as metrics
    `eval/<section>/<metric>` at `step`, into `folder` itself."""
    hparams = {"description": config.description}
    for section in ("model", *SECTIONS):
        values = dataclasses.asdict(getattr(config, section))
        hparams.update({f"{section}.{k}": show(v) if isinstance(v, bool) else v for k, v in values.items()
                        if isinstance(v, (bool, int, float, str))})
    section, values = next(iter(results["sections"].items()), ("", {}))
    metrics = {f"eval/{section}/{k}": float(v) for k, v in values.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    with summary_writer_class()(log_dir=str(folder)) as writer:
        writer.add_hparams(hparams, metrics, run_name=".", global_step=step)  # ".": this folder, not a timestamped one
