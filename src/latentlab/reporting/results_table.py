"""The results table of a run, shared by its report (reporting/html.py) and its notebook card
(reporting/card.py): results.json's sections as rows metric × section, with the published reference beside
each metric it gives. A leaf of the reporting package (nothing of latentlab.run), so the card can use it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from latentlab.errors import UserError
from latentlab.reporting.page import fmt_number


def results_table(results: dict, path: Path) -> dict:
    """{"columns", "rows", "has_reference", "reference_source", "reference_note"} of results.json's sections;
    a malformed entry is a UserError naming the file `path`."""
    try:
        sections: dict[str, dict] = results["sections"]
        titles = results.get("section_titles") or {}
        reference = results.get("reference") or {}
        ref_values = reference.get("values") or {}
        metrics = list(dict.fromkeys([m for s in sections.values() for m in s] + list(ref_values)))
        return {
            "columns": [titles.get(s, s) for s in sections],
            "rows": [{"metric": m, "values": [plain(s.get(m)) for s in sections.values()],
                      "reference": reference_text(ref_values[m]) if m in ref_values else ""} for m in metrics],
            "has_reference": bool(ref_values),
            "reference_source": reference.get("source", ""),
            "reference_note": reference.get("note", ""),
        }
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        raise UserError(f"{path} does not follow the results format ({e!r}); re-run `latentlab eval`") from None


def reference_text(value: Any) -> str:
    """[mean, sd] -> "101.5 ± 0.55"; [mean, null] or a bare number -> "101.5"."""
    mean, sd = (list(value) + [None])[:2] if isinstance(value, list) else (value, None)
    text = published(mean)
    return text if sd is None else f"{text} ± {published(sd)}"


def published(value: Any) -> str:
    """A published number as published (101.5 stays 101.5, not 101.50)."""
    return f"{value:.6g}" if isinstance(value, float) else fmt_number(value)


def plain(value: Any) -> str:
    """A measured value as the tables print it: a list joined, a dict as JSON, a number by fmt_number."""
    if isinstance(value, list):
        return ", ".join(plain(v) for v in value)
    return json.dumps(value) if isinstance(value, dict) else fmt_number(value)
