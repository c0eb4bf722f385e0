"""latentlab in a notebook: what `latentlab.show`, `latentlab.explorer` and `latentlab.figure` return.

    run = latentlab.train("cs236_vae", overrides=["train.iterations=300"])
    run                         # as a cell's last expression: the run's card (Run._repr_html_)
    latentlab.show(run)         # the whole report inline
    latentlab.explorer(run)     # the latent explorer, decoding in the page
    run.figure("samples")       # a figure the run wrote

Each returns an object that Jupyter displays through the rich-display protocol (`_repr_html_`,
`_repr_png_`): nothing here imports IPython, which stays optional. The pages are self-contained
(reporting/inline.py), so they show offline, in Colab and in the notebook exported to HTML.
"""

from __future__ import annotations

from pathlib import Path

from latentlab.errors import UserError

REPORT_HEIGHT = 640  # px of an inline report (it scrolls inside its frame)
EXPLORER_HEIGHT = 620


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
        raise UserError(f"figure {path} does not exist; the figures there: {_listing(path.parent)}")
    return Image(path)


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


def _listing(folder: Path) -> str:
    names = sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []
    return ", ".join(names) or f"none ({folder} holds no PNG)"
