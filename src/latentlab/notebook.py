"""latentlab in a notebook: `latentlab.show` (a whole report inline), `latentlab.explorer` (the latent
explorer inline) and `latentlab.figure` (a PNG figure).

    run = latentlab.train("cs236_vae", overrides=["train.iterations=300"])
    run                         # as a cell's last expression: the run's card (Run._repr_html_)
    latentlab.show(run)         # the whole report inline
    latentlab.explorer(run)     # the latent explorer, decoding in the page
    run.figure("samples")       # a figure the run wrote

Each returns an object Jupyter displays through the rich-display protocol (display.py): IPython is never
imported, it stays optional. The pages are self-contained (reporting/inline.py), so they show offline, in
Colab and in the notebook exported to HTML.
"""

from __future__ import annotations

from pathlib import Path

from latentlab.display import HTML, figure
from latentlab.errors import UserError

__all__ = ["show", "explorer", "figure"]
REPORT_HEIGHT = 640  # px of an inline report (it scrolls inside its frame)
EXPLORER_HEIGHT = 620


def show(target, *, height: int = REPORT_HEIGHT) -> HTML:
    """The whole report of `target` inline: a Run, a study's result (StudyResult), or the path of a run
    directory, a study folder or a report.html. A run's report is written first if it has none."""
    from latentlab.reporting.inline import iframe

    page = _report_file(target)
    return HTML(iframe(page.read_text(encoding="utf-8"), height=height, title=f"latentlab report {page.parent.name}"))


def explorer(run, *, height: int = EXPLORER_HEIGHT) -> HTML:
    """The latent explorer of a run (a Run or its directory) inline: sliders over z, the decoder evaluated
    in the page. Needs the run's explorer.json, which the evaluation writes for a model with a decoder."""
    from latentlab.reporting.inline import explorer_page, iframe

    return HTML(iframe(explorer_page(run), height=height, title=f"latentlab explorer {Path(run).name}"))


def _report_file(target) -> Path:
    """report.html of a run, a study or a path; a run's is written (latentlab.report) when missing."""
    path = Path(target)
    if path.suffix == ".html":
        if not path.is_file():
            raise UserError(f"report {path} does not exist")
        return path
    page = path / "report.html"
    if page.is_file():
        return page
    if (path / "run.json").exists():
        from latentlab.api import report

        return report([path])
    raise UserError(f"{path} holds no report.html and is not a run directory: pass a run, a study's result "
                    "or a report.html")
