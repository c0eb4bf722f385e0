"""Pages a notebook shows inside an output cell: a run's or a study's whole report, and a run's latent
explorer alone, each as an <iframe> whose `srcdoc` is the self-contained page.

An iframe keeps the page's styles and its script (decoder.js, explorer.js) to itself: the page runs as it
does when opened from disk, in Jupyter, in Colab and in the notebook exported to HTML, offline. The
frame is sandboxed to scripts only (no access to the notebook around it).
"""

from __future__ import annotations

import html
from pathlib import Path

from latentlab.errors import UserError
from latentlab.reporting.explorer import explorer_view
from latentlab.reporting.page import ENV

EXPLORER_TEMPLATE = "explorer_page.html.j2"


def iframe(page: str, *, height: int, title: str) -> str:
    """An <iframe> showing the HTML document `page` (embedded in srcdoc, escaped)."""
    return (f'<iframe class="latentlab-frame" title="{html.escape(title)}" sandbox="allow-scripts" '
            f'style="width: 100%; height: {height}px; border: 1px solid #d1d9e0; border-radius: 6px" '
            f'srcdoc="{html.escape(page, quote=True)}"></iframe>')


def explorer_page(path: str | Path) -> str:
    """A page holding only the latent explorer of the run directory `path`, with its script inlined."""
    folder = Path(path)
    view = explorer_view(folder / "explorer.json")
    if view is None:
        raise UserError(f"{folder} has no latent explorer (no explorer.json): the evaluation writes one for a "
                        "model with an encoder and a decoder; run latentlab.evaluate(run) first")
    return ENV.get_template(EXPLORER_TEMPLATE).render(name=folder.resolve().name,
                                                      run={"anchor": "run-1", "explorer": view})
