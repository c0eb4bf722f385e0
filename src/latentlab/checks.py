"""One acceptance check: what was required, whether it held, and the value it was judged on.

A leaf module: evaluation protocols and studies build checks; results.json, summary.json and the
reports keep each one as {"name", "passed", "value"} (`as_dict`, read back by `from_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """One acceptance check, such as Check("NELBO within 101.5 ± 1.5", True, 101.2)."""

    name: str
    passed: bool
    value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """{"name", "passed", "value"}: the form results.json and summary.json keep."""
        return {"name": self.name, "passed": self.passed, "value": self.value}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Check:
        """The check a results.json or summary.json entry {"name", "passed", "value"} records."""
        return cls(raw["name"], bool(raw["passed"]), raw.get("value"))
