"""Studies: one module per study. Each trains what it needs through the public API, then
writes its figures, tables and one report.html into its output folder.

A study module provides `run(out: Path, budget: str, *, data_dir, device, quiet) -> Path`
(the report's path). Budgets: `quick` runs in seconds (the tests use it), `standard` in
minutes on a 2-core CPU (the default), `full` is the original protocol (may want a GPU).
"""

from __future__ import annotations

from types import ModuleType

BUDGETS = ("quick", "standard", "full")


def studies() -> dict[str, ModuleType]:
    """Study name -> module. Explicit imports, no discovery by string."""
    return {}
