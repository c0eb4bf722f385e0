"""metrics.jsonl: the training log of a run, written and read here and nowhere else.

One JSON object per line and per logged (step, phase): {"step", "phase", "loss", terms..., "time"},
each term the mean over the iterations since the previous record, "time" the training seconds.
Records are appended as training goes; a run killed mid-write leaves at most a torn last line,
which `read_metrics` skips, and resuming from a checkpoint drops the records logged after it
(`MetricsLog.truncate_after`), so the log always matches the checkpointed state.
"""

from __future__ import annotations

import json
from pathlib import Path

from latentlab.errors import UserError
from latentlab.files import atomic_write, write_error


class MetricsLog:
    """The log at `path` (a run's `Run.metrics_path`); None writes nothing (a run without a directory)."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None

    def append(self, record: dict) -> None:
        """Add one record as one line."""
        if self.path is None:
            return
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:
            raise write_error(self.path, e) from None

    def truncate_after(self, step: int) -> None:
        """Drop the records logged after `step` (a crashed run leaves them), atomically."""
        if self.path is None or not self.path.exists():
            return
        kept = []
        for line in _read_lines(self.path):
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                break  # a torn last line
        atomic_write(self.path, "".join(line + "\n" for line in kept))


def read_metrics(path: Path) -> list[dict]:
    """The records of a metrics.jsonl; a truncated last line (a crashed run) is skipped."""
    path = Path(path)
    numbered = [(i, line) for i, line in enumerate(_read_lines(path), start=1) if line.strip()]
    records = []
    for i, line in numbered:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif i != numbered[-1][0]:
            raise UserError(f"{path}, line {i}: not a JSON object; fix or delete that line")
    return records


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise UserError(f"cannot read metrics file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text file of JSON lines; delete it or restore it from a copy") from None
