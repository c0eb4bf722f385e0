"""metrics.jsonl: appended while training, cut back to the checkpoint on resume, read by the report."""

from __future__ import annotations

import json

import pytest

from latentlab.errors import UserError
from latentlab.run.metrics import MetricsLog, read_metrics


def test_read_metrics_skips_a_truncated_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    assert [r["step"] for r in read_metrics(path)] == [1, 2]


def test_read_metrics_rejects_a_corrupt_middle_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\nnot json\n{"step": 3, "loss": 1.5}\n')
    with pytest.raises(UserError, match=r"metrics.jsonl, line 2"):
        read_metrics(path)


def test_read_metrics_of_a_binary_file_is_one_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"\x80\x04\x95 pickled, not JSON lines")
    with pytest.raises(UserError, match=r"metrics.jsonl is not a text file"):
        read_metrics(path)


def test_append_then_truncate_after_keeps_the_records_up_to_the_step(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in (10, 20, 30):
        log.append({"step": step, "phase": "model", "loss": 1.0 / step})
    with open(log.path, "a") as f:
        f.write('{"step": 40, "lo')  # a run killed in the middle of a line
    log.truncate_after(20)
    assert [r["step"] for r in read_metrics(log.path)] == [10, 20]
    assert log.path.read_text().endswith("\n")
    assert json.loads(log.path.read_text().splitlines()[-1])["step"] == 20


def test_a_log_without_a_run_directory_writes_nothing(tmp_path):
    log = MetricsLog(None)
    log.append({"step": 1, "loss": 0.0})
    log.truncate_after(0)
    assert list(tmp_path.iterdir()) == []
