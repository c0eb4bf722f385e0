"""A run's card and a study's card: the compact HTML a notebook shows for a `Run` or a study's result
as the last expression of a cell (their `_repr_html_`).

Built from the directory alone (config.toml, run.json, results.json or summary.json, the PNGs already
written): no model is loaded, no dataset read. A run's card: its model, data, step, the first results
section beside the reference with the checks, and a small grid of samples. A study's card: its title,
budget, time, checks and its first figures. PNGs are embedded as base64 data URIs; the styles are
scoped to the card's class, so the card sits in a notebook page without restyling it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import PIL.Image
import PIL.ImageChops

from latentlab.checks import Check
from latentlab.errors import UserError
from latentlab.files import read_json
from latentlab.reporting.html import _read_results, _results_view
from latentlab.reporting.page import ENV, data_uri, fmt_number, fmt_seconds
from latentlab.run import Run
from latentlab.studies.result import StudyResult

TEMPLATE = "card.html.j2"
SAMPLE_FIGURES = ("samples.png", "samples_by_class.png", "translations.png", "reconstructions.png")
SAMPLE_WIDTH = 360  # px of the card's sample grid
STUDY_FIGURES = 2  # figures a study's card shows (its report has them all)


def run_card(path: str | Path) -> str:
    """The card of the run directory `path` (an HTML fragment)."""
    run = Run.open(path)
    text, config = run.read_toml()
    results = _read_results(run.results_path)
    sample = next((run.figures_dir / f for f in SAMPLE_FIGURES if (run.figures_dir / f).exists()), None)
    data = config.get("data", {})
    view = {
        "kind": "run",
        "name": run.path.resolve().name,
        "path": str(run.path),
        "model": (results or {}).get("model") or config.get("model", {}).get("name"),
        "data": _data_line(data, run.meta),
        "step": run.step,
        "iterations": config.get("train", {}).get("iterations"),
        "results": _results_view(results, run.results_path) if results else None,
        "sample": None if sample is None else {"caption": sample.stem.replace("_", " "),
                                               "uri": data_uri(_thumbnail(sample))},
        "elapsed": fmt_seconds(results["elapsed"]["train_s"]) if _has_train_time(results) else "",
    }
    return ENV.get_template(TEMPLATE).render(card=view)


def study_card(path: str | Path) -> str:
    """The card of the study folder `path` (an HTML fragment), from its summary.json and figures."""
    folder = Path(path)
    summary_path = folder / "summary.json"
    if not summary_path.exists():
        raise UserError(f"{folder} holds no finished study (no summary.json): run it with latentlab study")
    summary = read_json(summary_path, todo="run the study again")
    figures = sorted(StudyResult(folder).figure_files(), key=lambda p: ("curves" in p.stem, p.name))  # curves last
    view = {
        "kind": "study",
        "name": summary.get("study", folder.name),
        "path": str(folder),
        "budget": summary.get("budget", "?"),
        "elapsed": fmt_seconds(summary["elapsed_s"]) if isinstance(summary.get("elapsed_s"), (int, float)) else "",
        "checks": [_check_view(Check.from_dict(c)) for c in summary.get("checks") or []],
        "figures": [{"caption": p.stem.replace("_", " "), "uri": data_uri(p.read_bytes())}
                    for p in figures[:STUDY_FIGURES]],
        "more_figures": max(0, len(figures) - STUDY_FIGURES),
    }
    return ENV.get_template(TEMPLATE).render(card=view)


def _thumbnail(path: Path) -> bytes:
    """The PNG at `path` scaled down to SAMPLE_WIDTH pixels wide at most (a card's small grid)."""
    with PIL.Image.open(path) as image:
        image = image.convert("RGB")
        r, g, b = image.split()
        if PIL.ImageChops.difference(r, g).getbbox() is None and PIL.ImageChops.difference(r, b).getbbox() is None:
            image = r  # grey: one channel, a third of the bytes
        image.thumbnail((SAMPLE_WIDTH, 4 * SAMPLE_WIDTH), PIL.Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _data_line(data: dict, meta: dict) -> str:
    """"mnist (binarize dynamic) · x (1, 28, 28)" from the config's [data] and run.json's shape."""
    name = data.get("name", "?")
    extra = f" (binarize {data['binarize']})" if data.get("binarize") not in (None, "none") else ""
    shape = meta.get("x_shape")
    return f"{name}{extra}" + (f" · x {tuple(shape)}" if shape else "")


def _has_train_time(results: dict | None) -> bool:
    return isinstance(((results or {}).get("elapsed") or {}).get("train_s"), (int, float))


def _check_view(c: Check) -> dict:
    value = None if c.value is None else (fmt_number(c.value) if not isinstance(c.value, str) else c.value)
    return {"name": c.name, "passed": c.passed, "value": value if not isinstance(value, dict) else json.dumps(value)}
