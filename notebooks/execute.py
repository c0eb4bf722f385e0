"""Execute latentlab's notebooks top to bottom at a budget, as `make notebooks` and the tests do.

    python notebooks/execute.py                         # every notebooks/*.ipynb at the quick budget
    python notebooks/execute.py notebooks/01_vae_mnist.ipynb --budget standard

Each notebook's first code cell is its budget, `BUDGET = "quick"`; the chosen budget is written there
before it runs. The notebook runs in a fresh kernel (nbclient) whose working directory is
<out>/<notebook>/, so its runs land there and nothing is written into the repository. Written:
<out>/<notebook>.ipynb (the executed copy, with outputs) and <out>/<notebook>.html (its HTML export,
nbconvert). Prints each notebook's time; exit status 1 if a notebook failed (its error is printed and
its copy is written up to the failing cell).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "executed"  # git-ignored
BUDGETS = ("quick", "standard", "full")
BUDGET_LINE = re.compile(r'^BUDGET = "(\w+)"')


def with_budget(nb, budget: str):
    """The notebook with its budget cell (the first code cell, `BUDGET = "..."`) set to `budget`."""
    if budget not in BUDGETS:
        raise ValueError(f"budget {budget!r}: one of {', '.join(BUDGETS)}")
    first = next((c for c in nb.cells if c.cell_type == "code"), None)
    if first is None or not BUDGET_LINE.match(first.source):
        raise ValueError('the first code cell of a notebook must be its budget: BUDGET = "quick"')
    first.source = BUDGET_LINE.sub(f'BUDGET = "{budget}"', first.source, count=1)
    return nb


def execute(path: str | Path, out: str | Path = OUT, *, budget: str = "quick", timeout: int = 600):
    """Run the notebook at `path` at `budget` in a fresh kernel; write its executed copy and HTML export
    into `out`. Returns (the executed notebook, seconds). A failing cell raises nbclient's
    CellExecutionError after the copy up to that cell is written."""
    import nbformat
    from nbclient import NotebookClient

    path, out = Path(path), Path(out)
    nb = with_budget(nbformat.read(path, as_version=4), budget)
    work = out / path.stem
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(work)}})
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        seconds = time.perf_counter() - start
        _write(nb, out / path.name, out / f"{path.stem}.html")
    return nb, seconds


def _write(nb, ipynb: Path, html: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    nbformat.write(nb, ipynb)
    page, _ = HTMLExporter().from_notebook_node(nb)
    html.write_text(page, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute notebooks top to bottom at a budget.")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    parser.add_argument("--budget", choices=BUDGETS, default="quick")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(HERE.glob("*.ipynb"))
    failed, total = [], 0.0
    for path in paths:
        try:
            _, seconds = execute(path, args.out, budget=args.budget, timeout=args.timeout)
        except Exception as e:  # a failing cell: say which, go on with the next notebook
            failed.append(path.name)
            print(f"{path.name:<40} FAILED\n{e}", file=sys.stderr)
            continue
        total += seconds
        print(f"{path.name:<40} {seconds:7.1f} s  ({args.budget})", flush=True)
    print(f"{len(paths) - len(failed)} of {len(paths)} notebooks executed in {total:.1f} s; copies and HTML in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
