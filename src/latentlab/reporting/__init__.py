"""Run directories in, one self-contained report.html out. Imports no model."""

from __future__ import annotations

from latentlab.reporting.html import write_report

__all__ = ["write_report"]
