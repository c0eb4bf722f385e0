"""What both pages (a run report, a study report) share: the template environment, the number
and duration formats, and PNGs embedded as data URIs so a page stands alone."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

# The templates of this folder (the run report and the study report): autoescaped, and an
# undefined name is an error rather than an empty string.
ENV = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)


def fmt_number(value: Any) -> str:
    """2 decimals; 3 significant digits below 1; integers and text as they are; None as —."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.3g}" if 0 < abs(value) < 1 else f"{value:.2f}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def fmt_bytes(n: int) -> str:
    """A size in bytes as people read it: 812 B, 34 kB, 1.76 MB (powers of 1000)."""
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.0f} kB" if n < 1_000_000 else f"{n / 1e6:.2f} MB"


def fmt_seconds(seconds: float) -> str:
    """A duration as people read it, the one format of every page: 42.3 s, 1 min 35 s, 2 h 05 min."""
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


PAGE_SIZE = "<!--page-size-->"  # where a template states the size of its own page


def with_page_size(html: str) -> str:
    """The page with its own size written where the template put PAGE_SIZE (exact to the shown digits)."""
    size = len(html.encode("utf-8")) - len(PAGE_SIZE)
    return html.replace(PAGE_SIZE, fmt_bytes(size + len(fmt_bytes(size))), 1)


def data_uri(png: bytes) -> str:
    """PNG bytes as a data: URI, to embed in a self-contained page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
