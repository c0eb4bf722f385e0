"""One self-contained page for a study: sections of text, tables, checks and figures.

A study builds a list of `Section`s from its runs and calls `write_study_report`; the page
embeds every PNG, so it can be mailed or opened anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from latentlab.checks import Check
from latentlab.files import atomic_write
from latentlab.reporting.page import ENV, data_uri, fmt_number, with_page_size


@dataclass
class Table:
    columns: list[str]
    rows: list[list]  # numbers are formatted by fmt_number; strings are shown as they are
    caption: str = ""
    note: str = ""


@dataclass
class Section:
    heading: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)  # (caption, png path)
    checks: list[Check] = field(default_factory=list)


def write_study_report(out: Path, *, name: str, title: str, budget: str, sections: list[Section],
                       intro: str = "", elapsed: str = "") -> Path:
    view = [
        {
            "heading": s.heading,
            "text": s.text,
            "tables": [{"caption": t.caption, "note": t.note, "columns": t.columns,
                        "rows": [[fmt_number(c) if not isinstance(c, str) else c for c in r] for r in t.rows]}
                       for t in s.tables],
            "figures": [{"caption": c, "uri": data_uri(Path(p).read_bytes())} for c, p in s.figures],
            "checks": [_check_view(c) for c in s.checks],
        }
        for s in sections
    ]
    html = ENV.get_template("study.html.j2").render(name=name, title=title, budget=budget, intro=intro,
                                                    elapsed=elapsed, sections=view)
    return atomic_write(out, with_page_size(html))


def _check_view(c: Check) -> dict:
    return {"name": c.name, "passed": bool(c.passed), "value": None if c.value is None else fmt_number(c.value)}
