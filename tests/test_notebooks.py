"""The notebooks are part of the API's contract: committed without outputs, every latentlab name they use
resolves in the package, and the first one (the VAE on MNIST) executes top to bottom at its quick budget
(notebooks/execute.py, as `make notebooks` runs it) with its run card, figures and explorer in the output,
and its HTML export works in headless Chromium, offline."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIRST = ROOT / "notebooks" / "01_vae_mnist.ipynb"


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines())  # magics


# ----------------------------------------------------------------------------- committed without outputs


def test_there_are_notebooks_and_the_first_is_the_vae():
    assert FIRST in NOTEBOOKS, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_saved_without_outputs_and_starts_with_its_budget(path):
    cells = code_cells(path)
    dirty = [i for i, c in enumerate(cells) if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, f"{path.name}: code cells {dirty} hold outputs or execution counts; clear them " \
                      "(jupyter nbconvert --clear-output --inplace)"
    assert re.match(r'^BUDGET = "quick"', source(cells[0])), f"{path.name}: the first code cell must be BUDGET = \"quick\""


# ----------------------------------------------------------------------------- the API names a notebook uses


RETURNS = {"latentlab.train": "latentlab.Run", "latentlab.prior": "latentlab.Run", "latentlab.Run": "latentlab.Run",
           "latentlab.Run.open": "latentlab.Run", "latentlab.study": "latentlab.StudyResult",
           "latentlab.StudyResult": "latentlab.StudyResult"}  # what a call returns, for `run.figure(...)` checks


INSTANCE = "()"  # marks a local name as an object of the class it names


def resolve(dotted: str):
    """The object a dotted name `latentlab.a.b` stands for (importing submodules on the way); AttributeError if none."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            if not inspect.ismodule(obj) or importlib.util.find_spec(".".join(parts[: i + 1])) is None:
                raise AttributeError(f"{'.'.join(parts[:i])} has no attribute {part!r}") from None
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


def unresolved_names(sources: list[str]) -> list[str]:
    """Every latentlab name the cells use that the installed package lacks: attribute chains on
    `latentlab` (or its alias, or a name imported from it), keyword arguments of its functions, and attributes
    of the runs and study results its functions return."""
    names: dict[str, str] = {}  # local name -> dotted latentlab name
    missing: list[str] = []
    for text in sources:
        for node in ast.walk(parse(text)):  # imports and assignments first, in order of the cells
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "latentlab":
                        names[a.asname or "latentlab"] = a.name if a.asname else "latentlab"
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "latentlab":
                for a in node.names:
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                called = _dotted(node.value.func, names)
                if called in RETURNS:
                    for target in node.targets:
                        for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                            if isinstance(t, ast.Name):
                                names[t.id] = RETURNS[called] + INSTANCE
        for node in ast.walk(parse(text)):
            missing += _check(node, names)
    return sorted(set(missing))


def _check(node, names: dict[str, str]) -> list[str]:
    if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "parent", None), ast.Attribute):
        dotted = _dotted(node, names)
        if dotted is not None:
            try:
                resolve(dotted)
            except AttributeError as e:
                return [f"{dotted}: {e}"]
    if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "latentlab":
        return _unresolved([f"{node.module}.{a.name}" for a in node.names])
    if isinstance(node, ast.Call):
        called = _dotted(node.func, names)
        if called is not None and node.keywords:
            try:
                params = inspect.signature(resolve(called)).parameters
            except (AttributeError, TypeError, ValueError):
                return []
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                return [f"{called}({k.arg}=...): no such parameter" for k in node.keywords
                        if k.arg is not None and k.arg not in params]
    return []


def _unresolved(dotted: list[str]) -> list[str]:
    out = []
    for d in dotted:
        try:
            resolve(d)
        except AttributeError as e:
            out.append(f"{d}: {e}")
    return out


def _dotted(node, names: dict[str, str]) -> str | None:
    """`a.b.c` as a dotted latentlab name when `a` is one; None otherwise."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in names:
        return None
    base, parts = names[node.id], parts[::-1]
    if base.endswith(INSTANCE):  # an object of that class: its own attribute is checked, not what that holds
        base, parts = base.removesuffix(INSTANCE), parts[:1]
    return ".".join([base, *parts])


def parse(text: str) -> ast.Module:
    """The cell's syntax tree, each node knowing its parent (the check reads only a chain's outermost name)."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node
    return tree


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_latentlab_name_a_notebook_uses_exists(path):
    missing = unresolved_names([source(c) for c in code_cells(path)])
    assert not missing, f"{path.name} uses names latentlab does not have: {missing}"


def test_the_name_check_catches_a_renamed_name():
    """The check above can fail: a function, a keyword, a module, a Run method and an import that do not exist."""
    cells = ["import latentlab\nimport latentlab.viz.figures\nfrom latentlab import show\n",
             "run = latentlab.train('cs236_vae', overides=[])\nlatentlab.trian('x')\nrun.figur('samples')\n"
             "latentlab.viz.figurs.sample_grid\nfrom latentlab import shwo\nresult = latentlab.study('vae-2d')\n"
             "result.summary\nrun.figure('samples')\nlatentlab.viz.figures.interpolation(None, None)\n"]
    missing = unresolved_names(cells)
    assert [m.split(":")[0] for m in missing] == sorted(
        ["latentlab.Run.figur", "latentlab.shwo", "latentlab.train(overides=...)", "latentlab.trian",
         "latentlab.viz.figurs.sample_grid"]), missing


# ----------------------------------------------------------------------------- the first notebook, executed

from conftest import real_data_root  # noqa: E402
from test_report_browser import MISSING, assert_decodes_like_torch, browser, input_value, last, screenshot  # noqa: E402,F401


def runner():
    """notebooks/execute.py, the code `make notebooks` runs."""
    spec = importlib.util.spec_from_file_location("notebooks_execute", ROOT / "notebooks" / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """(the output folder, the executed notebook) of 01_vae_mnist at its quick budget."""
    for package in ("nbformat", "nbclient", "nbconvert", "ipykernel"):
        pytest.importorskip(package, reason=f"{package} is not installed: pip install -e '.[notebooks]'")
    if real_data_root() is None:
        pytest.skip("MNIST is not on this machine (set LATENTLAB_DATA)")
    out = tmp_path_factory.mktemp("notebooks")
    nb, seconds = runner().execute(FIRST, out, budget="quick")
    print(f"\n{FIRST.name}: {seconds:.1f} s at the quick budget")
    return out, nb


def test_the_runner_sets_the_budget_cell():
    nbformat = pytest.importorskip("nbformat")
    nb = runner().with_budget(nbformat.read(FIRST, as_version=4), "standard")
    assert source(code_cells_of(nb)[0]).startswith('BUDGET = "standard"')
    with pytest.raises(ValueError, match="first code cell"):
        runner().with_budget(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), "quick")


def code_cells_of(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.slow
def test_the_vae_notebook_executes_with_its_card_figures_and_explorer(executed):
    out, nb = executed
    outputs = [o for c in code_cells_of(nb) for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    cards = [h for h in html if 'class="latentlab-card"' in h]
    assert len(cards) == 1
    card = " ".join(cards[0].split())
    for shown in ("model <code>vae</code>", 'step <span class="ll-num">2000</span>', "nelbo", "-iwae_100",
                  "101.5 ± 0.55", "✓", "data:image/png;base64,"):  # results beside the reference, checks, samples
        assert shown in card, shown
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 5  # loss curves, samples, reconstructions, interpolation, the walk (a Figure object)
    assert any(h.startswith('<iframe class="latentlab-frame" title="latentlab explorer') for h in html)
    assert any(h.startswith('<iframe class="latentlab-frame" title="latentlab report') for h in html)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)  # the progress bar
    assert not [h for h in html if re.search(r"""(src|href)\s*=\s*["']?https?://""", h)]  # nothing fetched
    assert (out / "01_vae_mnist.ipynb").exists() and (out / "01_vae_mnist.html").stat().st_size > 100_000


@pytest.mark.slow
@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_the_vae_notebook_exported_to_html_works_offline(executed, browser):
    """The HTML export in headless Chromium with the network off: the figures drawn, the run card
    rendered, the explorer decoding a slider's z exactly as PyTorch does. Only nbconvert's own page
    scripts (require.js, MathJax, the widget manager) ask for the network; they fail offline, so the
    equations stay as TeX and the progress bar is not drawn."""
    from latentlab.run import Run

    out, _ = executed
    browser.get_log("performance")
    browser.get((out / "01_vae_mnist.html").as_uri())
    images = browser.execute_script("return [...document.images].map(i => [i.src.slice(0, 14), i.naturalWidth])")
    assert len([i for i in images if i[0] == "data:image/png" and i[1] > 100]) >= 6  # 5 figures + the card's samples
    card = browser.find_element("css selector", ".latentlab-card")
    assert "nelbo" in card.text and "reference" in card.text and card.size["height"] > 200
    screenshot(browser, "notebook-vae-card", card)
    frame = browser.find_element("css selector", "iframe[title^='latentlab explorer']")
    screenshot(browser, "notebook-vae-explorer", frame)
    browser.switch_to.frame(frame)
    try:
        before = last(browser)
        dim = browser.find_elements("css selector", ".xp-dim")[2]
        input_value(browser, dim, 2.0)
        after = last(browser)
        assert abs(after["z"][2] - 2.0) < 0.01 and after["z"][:2] == before["z"][:2]
        assert after["x"] != before["x"]
        model = Run(next((out / FIRST.stem / "runs").glob("cs236_vae-*"))).load_model("cpu")
        assert_decodes_like_torch(model, after)
    finally:
        browser.switch_to.default_content()
    screenshot(browser, "notebook-vae")
    urls = [m["params"]["request"]["url"] for m in (json.loads(e["message"])["message"]
                                                    for e in browser.get_log("performance"))
            if m["method"] == "Network.requestWillBeSent"]
    outside = [u for u in urls if not u.startswith(("file:", "data:", "about:"))]
    assert all(re.match(r"https://(cdnjs\.cloudflare\.com|unpkg\.com|cdn\.jsdelivr\.net)/", u) for u in outside), outside


# ----------------------------------------------------------------------------- the display API, without a kernel


def test_a_figure_function_without_a_file_returns_its_figure(tmp_path):
    import torch
    from matplotlib.figure import Figure

    from latentlab.viz.figures import reconstructions

    x = torch.rand(4, 1, 8, 8)
    assert isinstance(reconstructions(x, x, None), Figure)
    assert reconstructions(x, x, tmp_path / "r.png") == tmp_path / "r.png" and (tmp_path / "r.png").exists()


def test_a_study_result_shows_its_checks_and_figures(tmp_path):
    import latentlab
    from latentlab.viz.grid import save_png

    np = pytest.importorskip("numpy")
    (tmp_path / "summary.json").write_text(json.dumps({"study": "vae-2d", "budget": "quick", "elapsed_s": 12.5,
        "checks": [{"name": "kl above 1", "passed": True, "value": 2.5}, {"name": "fid below 9", "passed": False,
                                                                          "value": 12.0}]}))
    for name in ("curves_vae", "latent_plane", "samples"):
        save_png(np.zeros((4, 4), np.uint8), tmp_path / f"{name}.png")
    result = latentlab.StudyResult(tmp_path)
    card = " ".join(result._repr_html_().split())
    assert "latentlab study <code>vae-2d</code>" in card and "budget <code>quick</code> · 12.5 s" in card
    assert "✓</span> kl above 1 <span class=\"ll-num\">(2.50)</span>" in card and "✗</span> fid below 9" in card
    assert card.count("<img") == 2 and 'alt="latent plane"' in card and "and 1 more figures" in card  # curves last
    assert result.figure("samples")._repr_png_()[:4] == b"\x89PNG"
    with pytest.raises(latentlab.errors.UserError, match="latent_plane.png"):
        result.figure("nothing")
    assert latentlab.StudyResult(tmp_path / "none")._repr_html_() is None
