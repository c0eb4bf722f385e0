"""What a notebook displays: an HTML fragment, a PNG file, a matplotlib Figure, through Jupyter's
rich-display protocol (`_repr_html_`, `_repr_png_`). A leaf: IPython is never imported here (it stays
optional), and nothing of latentlab but its errors."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from latentlab.errors import UserError


class HTML:
    """An HTML fragment a notebook renders (`_repr_html_`); `.html` is its text."""

    def __init__(self, html: str):
        self.html = html

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<latentlab HTML, {len(self.html):,} characters: display it in a notebook>"


class Image:
    """A PNG file a notebook renders (`_repr_png_`); `.path` is the file, `.data` its bytes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.data = self.path.read_bytes()

    def _repr_png_(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"Image({str(self.path)!r})"


def figure(path: str | Path) -> Image:
    """A PNG file (a figure a run or a study wrote) as an image a notebook displays."""
    path = Path(path)
    if not path.is_file():
        names = sorted(p.name for p in path.parent.glob("*.png")) if path.parent.is_dir() else []
        raise UserError(f"figure {path} does not exist; the figures there: {', '.join(names) or 'none'}")
    return Image(path)


def inline_figure(fig):
    """The matplotlib Figure `fig`, made to display as a PNG when it ends a notebook cell: inside IPython,
    Figures get a PNG formatter (what matplotlib's inline backend gives pyplot's figures, which viz/, drawing
    without pyplot, never gets). Outside IPython nothing changes."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(type(fig), _png)
    return fig


def _png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=fig.dpi, facecolor="white")
    return out.getvalue()
