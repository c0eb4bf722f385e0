"""One self-contained HTML page for one or more run directories.

Everything is inline: CSS in the page, PNGs as base64 data URIs, no links out, nothing fetched.
The one script (decoder.js and explorer.js) is inlined only when a run has a latent-space
explorer (explorer.json, see reporting/explorer.py): it evaluates that run's decoder in the page.
The loss curves are drawn from metrics.jsonl into a temporary file, so nothing is written
into a run directory except the page itself (when `out` lies there). The footer states the
page's size.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from latentlab.errors import UserError
from latentlab.files import atomic_write, read_json
from latentlab.reporting.explorer import explorer_view
from latentlab.reporting.page import ENV, data_uri, fmt_number, fmt_seconds, with_page_size
from latentlab.reporting.results_table import plain, results_table
from latentlab.run import Run
from latentlab.viz.figures import loss_curves

TEMPLATE = "report.html.j2"


def write_report(run_dirs: list[Path], out: Path) -> Path:
    """Render the runs into one page at `out` (written atomically) and return `out`."""
    if not run_dirs:
        raise UserError("no run directories given; pass one or more folders like runs/<name>")
    runs = [_run_view(Path(d), i) for i, d in enumerate(run_dirs, start=1)]
    html = ENV.get_template(TEMPLATE).render(
        runs=runs, comparison=_comparison(runs) if len(runs) > 1 else None,
        scripted=any(run["explorer"] and run["explorer"]["reason"] is None for run in runs),
    )
    return atomic_write(out, with_page_size(html))


# ----------------------------------------------------------------------------- one run


def _run_view(run_dir: Path, index: int) -> dict:
    run = Run(run_dir)
    config_path = run.config_path
    if not run_dir.is_dir() or not (config_path.exists() or config_path.is_symlink()):
        raise UserError(
            f"{run_dir} is not a latentlab run directory (no config.toml at {config_path}); "
            "pass a folder written by `latentlab train`, like runs/<name>"
        )
    config_text, config = run.read_toml()
    results = _read_results(run.results_path)
    records = run.metrics()
    model = config.get("model")
    return {
        "anchor": f"run-{index}",
        "name": run_dir.resolve().name,
        "model": (results or {}).get("model") or (model or {}).get("name"),
        "description": config.get("description", ""),
        "step": (results or {}).get("step", records[-1].get("step") if records else None),
        "results": _results_view(results, run.results_path) if results else None,
        "curves": _curves_uri(records),
        "figures": [
            {"caption": _caption(p), "uri": data_uri(p.read_bytes())}
            for p in sorted(run.figures_dir.glob("*.png"), key=_figure_order)
            if p.name != "loss_curves.png"  # drawn above from metrics.jsonl
        ],
        "explorer": explorer_view(run.explorer_path),
        "config_lines": [
            {"text": line, "changed": "  # changed" in line} for line in config_text.splitlines()
        ],
    }


def _read_results(path: Path) -> dict | None:
    if not path.exists() and not path.is_symlink():
        return None  # not evaluated yet
    results = read_json(path, todo="re-run `latentlab eval`")
    if not isinstance(results.get("sections"), dict):
        raise UserError(f"{path} has no \"sections\" table; re-create it with `latentlab eval`")
    return results


def _results_view(results: dict, path: Path) -> dict:
    """Tables and lines for the template; a malformed entry is a UserError naming the file."""
    table = results_table(results, path)
    try:
        sections: dict[str, dict] = results["sections"]
        titles = results.get("section_titles") or {}
        first = next(iter(sections), None)
        return {
            **table,
            "first_section": {
                "title": titles.get(first, first) if first else "no sections",
                "values": {m: plain(v) for m, v in sections.get(first, {}).items()},
            },
            "checks": [
                {"name": c["name"], "passed": bool(c["passed"]), "value": plain(c.get("value"))}
                for c in results.get("checks") or []
            ],
            "protocol": [(k, plain(v)) for k, v in (results.get("protocol") or {}).items()],
            "elapsed": [_elapsed(k, v) for k, v in (results.get("elapsed") or {}).items()],
        }
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        raise UserError(
            f"{path} does not follow the results format ({e!r}); re-run `latentlab eval`"
        ) from None


def _elapsed(key: str, seconds: Any) -> tuple[str, str]:
    """("train_s", 95.1) -> ("train", "1 min 35 s"); other keys are shown as they are."""
    if not key.endswith("_s") or not isinstance(seconds, (int, float)):
        return key, fmt_number(seconds)
    return key.removesuffix("_s"), fmt_seconds(seconds)


def _curves_uri(records: list[dict]) -> str | None:
    if not records:
        return None
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = loss_curves(records, Path(folder) / "curves.png")
        except ValueError:  # records without a single numeric term
            return None
        return data_uri(path.read_bytes())


FIRST = ("samples", "reconstructions", "interpolation", "latent_manifold", "latent_scatter")


def _figure_order(path: Path) -> tuple:
    """Samples first, then reconstructions, interpolation, the latent plane; the rest by name."""
    return (FIRST.index(path.stem) if path.stem in FIRST else len(FIRST), path.name)


def _caption(path: Path) -> str:
    words = path.stem.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


# ----------------------------------------------------------------------------- several runs


def _comparison(runs: list[dict]) -> dict:
    """Rows = runs, columns = the union of the metrics of each run's first section."""
    firsts = [_first_section(run) for run in runs]
    metrics = _union([list(values) for _, values in firsts])
    return {
        "metrics": metrics,
        "rows": [
            {
                "anchor": run["anchor"],
                "name": run["name"],
                "model": run["model"],
                "step": fmt_number(run["step"]),
                "section": title,
                "values": [values.get(m, "—") for m in metrics],
            }
            for run, (title, values) in zip(runs, firsts)
        ],
    }


def _first_section(run: dict) -> tuple[str, dict[str, str]]:
    if run["results"] is None:
        return "not evaluated yet", {}
    first = run["results"]["first_section"]
    return first["title"], first["values"]


def _union(lists: list[list[str]]) -> list[str]:
    """All names, each once, in order of first appearance."""
    return list(dict.fromkeys(name for names in lists for name in names))
