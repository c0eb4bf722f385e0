"""What `latentlab train --resume RUN --set key=value` may change, and how the run records it.

A resumed run continues from a checkpoint of the model, the optimizers and the data stream.
Settings the trainer reads afresh at every step can change from there on: the learning rates
and their schedule (applied to the restored optimizers), the number of iterations, gradient
clipping, logging (where to, how often) and checkpoint intervals, the device and kernel choices, and everything the
evaluation reads. Anything the checkpoint was built from — the model, the data, the batch size,
the optimizer kind, the seed, the EMA — cannot change: that is refused with one line. The data's
files cannot change either unless `data.accept_changed = true` says so (run.json's fingerprint,
data/fingerprint.py); the run then trains on the files as they are now.
config.toml then holds the values in use, headed by one comment line per resume saying which
values changed at which step.
"""

from __future__ import annotations

from typing import Any

from latentlab.config import differences
from latentlab.errors import UserError

RESUMABLE = {  # section.key that a resumed run applies from its checkpoint's step on; all of eval too
    "description",
    "train.iterations", "train.lr", "train.phase_lr", "train.lr_decay_start", "train.betas", "train.weight_decay",
    "train.grad_clip", "train.log_every", "train.log", "train.image_every", "train.checkpoint_every", "train.device",
    "train.compile", "train.optimizer_impl", "train.precision", "train.channels_last", "data.accept_changed",
}
HEADER = "# resumed at step "


def check_resume(old: Any, new: Any, run: Any) -> dict[str, tuple[Any, Any]]:
    """The changes of `new` over the run's config `old`; a change the checkpoint cannot take is a UserError."""
    found = differences(old, new)
    refused = [k for k in found if k not in RESUMABLE and not k.startswith("eval.")]
    if refused:
        listed = ", ".join(f"{k} ({_show(found[k][0])} -> {_show(found[k][1])})" for k in refused)
        raise UserError(f"--resume cannot change {listed}: the checkpoints of {run} were trained with the old "
                        "value; train a new run with --out instead (a resumed run may change the learning rates "
                        "and schedule, iterations, logging, checkpointing and evaluation settings)")
    return found


def record(toml: str, previous: str, step: int, found: dict[str, tuple[Any, Any]]) -> str:
    """config.toml text: the earlier resume lines of `previous`, one for this resume, then `toml`."""
    lines = [line for line in previous.splitlines() if line.startswith(HEADER)]
    if found:
        lines.append(HEADER + f"{step} with " + ", ".join(f"{k} = {_show(b)} (was {_show(a)})"
                                                          for k, (a, b) in found.items()))
    return "\n".join(lines) + ("\n" if lines else "") + toml


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return f'"{value}"' if isinstance(value, str) else repr(value) if not isinstance(value, bool) else str(value).lower()
