"""The training loop. It knows the model only through the contract of models/base.py.

One iteration runs the model's phases in order; each phase takes a batch, computes the
model's loss, and steps that phase's optimizer. Every `log_every` iterations the mean of
each logged term over the window goes to metrics.jsonl (run/metrics.py), and where train.log
holds "tensorboard" to TensorBoard too, with the learning rates, the throughput and, every
`image_every`, a sample grid (training/tensorboard.py); every `checkpoint_every` (and at the last
iteration) the whole state is checkpointed. A loss that is not finite stops the run before it
touches the parameters, keeping the last good checkpoint.

The trainer writes only through the `Run` its caller hands it (checkpoints, the log, TensorBoard's
folder) and takes its batches from any `BatchStream` (batch.py).
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from latentlab.batch import Batch, BatchStream
from latentlab.config import TrainConfig
from latentlab.errors import Interrupted, UserError
from latentlab.files import make_dir, remove_stale_temporaries
from latentlab.models.base import GenerativeModel
from latentlab.training.distributed import World, average_gradients, gather_rng_states
from latentlab.training.ema import ema_start, ema_update
from latentlab.training.interrupt import StopRequest, stop_requests
from latentlab.training.tensorboard import TensorBoardLog

if TYPE_CHECKING:  # the caller hands the trainer its run directory; training/ does not import run/
    from latentlab.run import Run


class Diverged(UserError):
    """The loss became NaN or infinite."""


def make_optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    """The optimizer named by cfg.optimizer (learning rate `lr`, default cfg.lr); cfg.optimizer_impl picks
    fused / foreach / per-tensor kernels."""
    impl = {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False}}[cfg.optimizer_impl]
    kind, common = cfg.optimizer, dict(lr=cfg.lr if lr is None else lr, weight_decay=cfg.weight_decay)
    if kind in ("adam", "adamw"):
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return cls(params, betas=cfg.betas, **common, **impl)
    if kind == "rmsprop":
        impl = {"foreach": True} if cfg.optimizer_impl == "fused" else impl  # RMSprop has no fused kernel
        return torch.optim.RMSprop(params, **common, **impl)
    return torch.optim.SGD(params, momentum=cfg.betas[0], **common, **impl)


def phase_learning_rates(cfg: TrainConfig, phases: list[str]) -> dict[str, float]:
    """{phase: lr} from cfg.phase_lr entries "phase=lr"."""
    lrs = {}
    for entry in cfg.phase_lr:
        phase, _, value = entry.partition("=")
        try:
            lrs[phase.strip()] = float(value)
        except ValueError:
            raise UserError(f"train.phase_lr entry {entry!r} is not \"phase=lr\" (like \"generator=4e-5\")") from None
        if phase.strip() not in phases:
            raise UserError(f"train.phase_lr names phase {phase.strip()!r}; this model's phases: {', '.join(phases)}")
    return lrs


class Trainer:
    """Trains `model` on `batcher` for cfg.iterations, writing into the run directory `run` (None: nowhere).
    `examples`: a fixed batch of training data on the device for TensorBoard's grids (None: no grids; see
    training/tensorboard.py)."""

    def __init__(
        self,
        model: GenerativeModel,
        batcher: BatchStream,
        cfg: TrainConfig,
        run: Run | None = None,
        *,
        quiet: bool = False,
        world: World = World(),
        examples: Batch | None = None,
    ):
        self.model, self.batcher, self.cfg, self.examples = model, batcher, cfg, examples
        self.run = run  # its layout: where checkpoints and the log go
        self.quiet, self.world, self.is_main = quiet, world, world.is_main
        if run is not None and self.is_main:
            make_dir(run.path)
        self.metrics = run.metrics_log(write=self.is_main) if run is not None else None
        tensorboard = run is not None and self.is_main and "tensorboard" in cfg.log
        self.tensorboard_dir = run.tensorboard_dir if tensorboard else None
        self.tensorboard = TensorBoardLog(None)  # opened by fit, at the step it starts from
        groups = model.parameter_groups()
        missing = set(model.phases) - set(groups)
        if missing:
            raise ValueError(f"phases {sorted(missing)} have no parameter group")
        self.params = groups
        self.device = next(model.parameters()).device
        self.loss_fn = torch.compile(model.loss) if cfg.compile else model.loss
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        lrs = phase_learning_rates(cfg, list(groups))
        if not 0.0 <= cfg.lr_decay_start <= 1.0:
            raise UserError(f"train.lr_decay_start must be a fraction in [0, 1] (1: constant), got {cfg.lr_decay_start}")
        self.optimizers = {phase: make_optimizer(p, cfg, lrs.get(phase)) for phase, p in groups.items()}
        self.base_lrs = {phase: opt.param_groups[0]["lr"] for phase, opt in self.optimizers.items()}
        self.ema = ema_start(model) if cfg.ema > 0 else None  # θ_ema by state-dict key (training/ema.py)
        self.step = 0
        self.elapsed = 0.0  # training seconds before this process (from checkpoints)
        self.window: dict[str, dict] = {}  # {phase: {"n": iterations, term: sum}} since the last log record

    # -- state
    def state_dict(self) -> dict:
        state = {
            "model": self.model.state_dict(),
            "optimizers": {p: o.state_dict() for p, o in self.optimizers.items()},
            "batcher": self.batcher.state_dict(),
            "torch_rng": gather_rng_states(self.world),  # one per rank
            "elapsed": self.elapsed,
            "log_window": {p: {k: float(v) for k, v in sums.items()} for p, sums in self.window.items()},
        }
        if self.ema is not None:
            state["ema"] = self.ema
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        for phase, opt in self.optimizers.items():
            # the moments come from the checkpoint, the settings (lr, betas, ...) from this run's config,
            # so that `--resume --set train.lr=...` steps at the new rate
            settings = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
            opt.load_state_dict(state["optimizers"][phase])
            for group, own in zip(opt.param_groups, settings):
                group.update(own)
        self.batcher.load_state_dict(state["batcher"])
        if self.ema is not None:
            self.ema = state["ema"]
        torch.set_rng_state(state["torch_rng"][self.world.rank])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.elapsed = float(state["elapsed"])
        self.window = {p: {k: int(v) if k == "n" else v for k, v in sums.items()}
                       for p, sums in state.get("log_window", {}).items()}

    def resume(self) -> bool:
        """Load the newest intact checkpoint of the run, if there is one. Damaged newer ones (a
        truncated or foreign file) are passed over, saying so on stderr. Temporary files of writes that
        a killed process left behind are deleted first. A run stopped before its first checkpoint starts
        again from step 0 (the seeded start); a checkpoint past cfg.iterations is a UserError."""
        if self.run is None:
            return False
        if self.is_main:
            for folder in (self.run.path, self.run.checkpoints_dir):
                remove_stale_temporaries(folder)
        newest = self.run.load_newest_checkpoint()
        if newest is None:
            self.metrics.truncate_after(0)
            if self.is_main:
                print(f"latentlab: {self.run.path} has no checkpoint yet; training it from step 0", file=sys.stderr)
            return False
        path, self.step, state, damaged = newest
        if self.cfg.iterations < self.step:
            raise UserError(f"train.iterations = {self.cfg.iterations} is below step {self.step}, where "
                            f"{self.run.path} already is; give at least {self.step}")
        if damaged and self.is_main:
            print(f"latentlab: checkpoint {damaged[0].path.with_suffix('').name} is damaged ({damaged[0].why}); "
                  f"resuming from {path.with_suffix('').name}, the newest intact one", file=sys.stderr)
        self.load_state_dict(state)
        self.metrics.truncate_after(self.step)
        return True

    def save(self) -> Path | None:
        if self.run is None:
            return None
        state = self.state_dict()  # on every rank: gathering the RNG states is collective
        return self.run.save_checkpoint(self.step, state) if self.is_main else None

    # -- the loop
    def fit(self) -> None:
        """Train to cfg.iterations. Ctrl-C or SIGTERM (single process) stops after the current
        iteration with a checkpoint of it, raising `Interrupted`; a second Ctrl-C stops at once."""
        cfg, model = self.cfg, self.model
        model.train()
        start = time.perf_counter() - self.elapsed
        bar = tqdm(total=cfg.iterations, initial=self.step, disable=self.quiet or not self.is_main,
                   unit="it", dynamic_ncols=True, mininterval=0.5)
        signals = stop_requests() if self.world.size == 1 else contextlib.nullcontext(StopRequest())
        self.tensorboard = TensorBoardLog(self.tensorboard_dir, step=self.step, seconds=self.elapsed, seed=cfg.seed,
                                          examples_per_iteration=cfg.batch_size * len(model.phases))
        with bar, signals as stop, self.tensorboard:
            while self.step < cfg.iterations:
                self._schedule_lr()
                for phase in model.phases:
                    terms = self._phase_step(phase)
                    sums = self.window.setdefault(phase, {"n": 0})
                    for k, v in terms.items():
                        sums[k] = sums.get(k, 0.0) + v.detach()
                    sums["n"] += 1
                self.step += 1
                if self.ema is not None:
                    ema_update(self.ema, model, cfg.ema)
                bar.update(1)
                last, stopping = self.step == cfg.iterations, bool(stop)
                if self.step % cfg.log_every == 0 or last:
                    self.elapsed = time.perf_counter() - start
                    bar.set_postfix(self._log(self.window), refresh=False)
                    self.window = {}
                if self.step % cfg.image_every == 0 or last:
                    self.tensorboard.images(model, self.examples, self.step)
                if self.step % cfg.checkpoint_every == 0 or last or stopping:
                    self.elapsed = time.perf_counter() - start
                    saved = self.save()
                    if stopping and not last:
                        raise Interrupted(self._stopped(stop.signal, saved))
        model.eval()

    def _stopped(self, signal_name: str, checkpoint: Path | None) -> str:
        if checkpoint is None:
            return f"{signal_name} stopped training at step {self.step}; no run directory, so nothing was saved"
        return (f"{signal_name} stopped training at step {self.step} of {self.cfg.iterations}; checkpoint "
                f"{checkpoint.with_suffix('')} written; continue with: latentlab train --resume {self.run.path}")

    def _phase_step(self, phase: str) -> dict[str, torch.Tensor]:
        batch = self.batcher.next()
        if self.cfg.channels_last:
            batch = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in batch.items()}
        with self.autocast():
            terms = self.loss_fn(batch, phase)
        loss = terms["loss"].float()
        if not torch.isfinite(loss):
            self._diverged(phase, loss)
        opt = self.optimizers[phase]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.params[phase], self.world)
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params[phase], self.cfg.grad_clip)
        opt.step()
        self.model.after_step(phase)
        return terms

    def _schedule_lr(self) -> None:
        """lr_t = lr · min(1, (T - t) / (T - t₀)) with t₀ = lr_decay_start · T: constant, then linear to 0.

        A function of the step alone, so a resumed run follows the same schedule."""
        total = self.cfg.iterations
        start = self.cfg.lr_decay_start * total
        if start >= total:
            return
        factor = min(1.0, (total - self.step) / (total - start))
        for phase, opt in self.optimizers.items():
            for group in opt.param_groups:
                group["lr"] = self.base_lrs[phase] * factor

    def autocast(self):
        if self.cfg.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _diverged(self, phase: str, loss: torch.Tensor) -> None:
        last = self.run.latest_checkpoint() if self.run is not None else None
        kept = f"the last good checkpoint is {last.with_suffix('')}" if last else "no checkpoint was written yet"
        raise Diverged(
            f"the loss became {loss.item()} at iteration {self.step + 1} (phase '{phase}'); {kept}; "
            "lower train.lr or set train.grad_clip, then train again"
        )

    def _log(self, window: dict) -> dict[str, float]:
        postfix = {}
        for phase, sums in window.items():
            n = sums.pop("n")
            record = {"step": self.step, "phase": phase}
            record.update({k: float(v) / n for k, v in sums.items()})
            record["time"] = round(self.elapsed, 3)
            if self.metrics is not None:
                self.metrics.append(record)
            self.tensorboard.record(record)
            postfix[f"{phase}_loss" if len(window) > 1 else "loss"] = f"{record['loss']:.3f}"
        lrs = {phase: opt.param_groups[0]["lr"] for phase, opt in self.optimizers.items()}
        self.tensorboard.progress(self.step, self.elapsed, lrs)
        return postfix
