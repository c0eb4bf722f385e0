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
import tomllib
from pathlib import Path

import PIL.Image
import PIL.ImageChops

from latentlab.checks import Check
from latentlab.errors import UserError
from latentlab.files import read_json
from latentlab.reporting.page import ENV, data_uri, fmt_seconds
from latentlab.reporting.results_table import plain, results_table

TEMPLATE = "card.html.j2"
SAMPLE_FIGURES = ("samples.png", "samples_by_class.png", "translations.png", "reconstructions.png")
SAMPLE_WIDTH = 360  # px of the card's sample grid
STUDY_FIGURES = 2  # figures a study's card shows (its report has them all)


def run_card(path: str | Path, step: int) -> str:
    """The card of the run directory `path` at `step` (an HTML fragment)."""
    folder = Path(path)
    if not (folder / "config.toml").is_file():
        raise UserError(f"{folder} is not a run directory (no config.toml)")
    config = tomllib.loads((folder / "config.toml").read_text(encoding="utf-8"))
    results = read_json(folder / "results.json", todo="recompute it with latentlab eval") \
        if (folder / "results.json").is_file() else None
    meta = read_json(folder / "run.json", todo="train the run again") if (folder / "run.json").is_file() else {}
    sample = next((folder / "figures" / f for f in SAMPLE_FIGURES if (folder / "figures" / f).is_file()), None)
    view = {
        "kind": "run",
        "name": folder.resolve().name,
        "path": str(folder),
        "model": (results or {}).get("model") or config.get("model", {}).get("name"),
        "data": _data_line(config.get("data", {}), meta),
        "step": step,
        "iterations": config.get("train", {}).get("iterations"),
        "results": _results_view(results, folder / "results.json") if results else None,
        "sample": None if sample is None else {"caption": sample.stem.replace("_", " "),
                                               "uri": data_uri(_thumbnail(sample))},
        "elapsed": fmt_seconds(results["elapsed"]["train_s"]) if _has_train_time(results) else "",
    }
    return ENV.get_template(TEMPLATE).render(card=view)


def study_card(path: str | Path, figures: list[Path]) -> str:
    """The card of the study folder `path` (an HTML fragment), from its summary.json and its `figures`."""
    folder = Path(path)
    summary_path = folder / "summary.json"
    if not summary_path.exists():
        raise UserError(f"{folder} holds no finished study (no summary.json): run it with latentlab study")
    summary = read_json(summary_path, todo="run the study again")
    figures = sorted(figures, key=lambda p: ("curves" in p.stem, p.name))  # training curves last
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


def _results_view(results: dict, path: Path) -> dict:
    """results.json's sections as rows metric × section, the reference beside them (results_table), and the checks."""
    try:
        checks = [_check_view(Check.from_dict(c)) for c in results.get("checks") or []]
    except (KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{path} does not follow the results format ({e!r}); re-run `latentlab eval`") from None
    return {**results_table(results, path), "checks": checks}


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
    return {"name": c.name, "passed": c.passed, "value": None if c.value is None else plain(c.value)}
