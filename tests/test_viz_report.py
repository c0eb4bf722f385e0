"""Image grids, figures, metrics reading and the HTML report, on small fake data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.errors import UserError
from latentlab.reporting import write_report
from latentlab.viz import (
    image_grid,
    interpolation,
    latent_manifold,
    latent_scatter,
    loss_curves,
    reconstructions,
    sample_grid,
    save_png,
)

# ----------------------------------------------------------------------------- image grids


def test_image_grid_grey_layout_and_values():
    x = torch.zeros(6, 1, 4, 5)
    x[1] = 0.5
    grid = image_grid(x, nrow=3, pad=2)
    assert grid.shape == (2 + 2 * (4 + 2), 2 + 3 * (5 + 2))  # 2 rows, 3 columns
    assert grid.dtype == np.uint8
    assert grid[2, 2] == 0 and grid[0, 0] == 255  # first image; white border
    assert grid[2, 2 + 7] == 128  # second image, same row (row-major)
    assert grid[2 + 6, 2] == 0  # fourth image starts the second row


def test_image_grid_rgb_clips_and_fills_a_partial_last_row():
    x = torch.full((5, 3, 3, 3), 2.0)  # clipped to 1
    x[:, 0] = -1.0  # clipped to 0
    grid = image_grid(x, nrow=4, pad=1, pad_value=0.0)
    assert grid.shape == (1 + 2 * 4, 1 + 4 * 4, 3)
    assert grid[1, 1].tolist() == [0, 255, 255]
    assert grid[5, 5:].max() == 0  # empty cells of the last row are padding


def test_save_png_upscales_and_is_readable(tmp_path):
    grid = image_grid(torch.rand(4, 1, 7, 7), nrow=2)
    path = save_png(grid, tmp_path / "sub" / "grid.png", scale=3)
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (grid.shape[1] * 3, grid.shape[0] * 3)
        assert np.array_equal(np.array(img)[::3, ::3], grid)  # nearest neighbour: exact pixels
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]  # no temp file left


# ----------------------------------------------------------------------------- figures


def _records() -> list[dict]:
    out = []
    for step in range(0, 300, 10):
        out.append({"step": step, "phase": "model", "loss": 500 / (1 + step), "kl": 3.0, "time": 1})
    out.append({"step": 300, "phase": "eval", "nelbo": 101.2, "time": 9.0})
    return out


def _assert_png(path: Path) -> None:
    assert path.stat().st_size > 0
    with Image.open(path) as img:
        assert img.format == "PNG" and min(img.size) > 10


@pytest.mark.parametrize(
    "draw",
    [
        lambda p: sample_grid(torch.rand(30, 1, 8, 8), torch.rand(30, 1, 8, 8).round(), p, nrow=10),
        lambda p: sample_grid(torch.rand(6, 3, 8, 8), None, p),
        lambda p: reconstructions(torch.rand(7, 1, 8, 8), torch.rand(7, 1, 8, 8), p, n_cols=4),
        lambda p: interpolation(torch.rand(2, 5, 1, 8, 8), p, alphas=[0, 0.25, 0.5, 0.75, 1]),
        lambda p: interpolation(torch.rand(1, 3, 1, 8, 8), p),
        lambda p: latent_manifold(torch.rand(16, 1, 8, 8), p, extent=(-2.0, 2.0)),
        lambda p: latent_scatter(torch.randn(50, 2), torch.randint(0, 3, (50,)), p, title="test"),
        lambda p: latent_scatter(torch.randn(50, 2), torch.arange(50), p),
        lambda p: latent_scatter(torch.randn(50, 2), None, p),
        lambda p: loss_curves(_records(), p),
        lambda p: loss_curves(_records(), p, keys=["loss"]),
    ],
)
def test_each_figure_writes_a_png(tmp_path, draw):
    path = tmp_path / "figure.png"
    assert draw(path) == path
    _assert_png(path)


@pytest.mark.parametrize("likelihood, words", [("bernoulli", ("decoder probabilities", "Bernoulli draws")),
                                                ("gaussian", ("decoder means", "Gaussian draws"))])
def test_sample_grid_names_the_decoders_distribution(tmp_path, monkeypatch, likelihood, words):
    from matplotlib.axes import Axes

    titles = []
    set_title = Axes.set_title
    monkeypatch.setattr(Axes, "set_title", lambda ax, text, **kw: (titles.append(text), set_title(ax, text, **kw))[1])
    sample_grid(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8), tmp_path / "s.png", likelihood=likelihood)
    assert len(titles) == 2 and words[0] in titles[0] and words[1] in titles[1]



# ----------------------------------------------------------------------------- report

CONFIG = 'description = "a tiny VAE"\n\n[model]\nname = "vae"\nz_dim = 2  # changed; default 10\n\n[data]\n\n[train]\n\n[eval]\n'
RESULTS = {
    "format": 1, "run": "fake", "model": "vae", "step": 300,
    "protocol": {"name": "cs236", "iwae_k": [1, 10]},
    "sections": {"subset": {"nelbo": 101.234, "kl": 19.1, "-iwae_10": 98.5},
                 "full_test": {"nelbo": 100.9, "fid": 0.01234}},
    "section_titles": {"subset": "CS236 subset (100 images)"},
    "reference": {"source": "CS236 <HW2>", "values": {"nelbo": [101.5, 0.55], "kl": [19.3, None]},
                  "note": "students' runs"},
    "checks": [{"name": "NELBO within 101.5 ± 1.5", "passed": True, "value": 101.234},
               {"name": "KL sane", "passed": False}],
    "elapsed": {"train_s": 95.1, "eval_s": 12.0},
}


def _fake_run(root: Path, name: str, results: dict | None = RESULTS) -> Path:
    run = root / name
    (run / "figures").mkdir(parents=True)
    (run / "config.toml").write_text(CONFIG)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _records()))
    save_png(image_grid(torch.rand(4, 1, 8, 8), nrow=2), run / "figures" / "samples_prior.png")
    if results is not None:
        (run / "results.json").write_text(json.dumps(results))
    return run


def test_report_of_one_run_is_self_contained(tmp_path):
    run = _fake_run(tmp_path, "cs236_vae-1")
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    out = write_report([run], run / "report.html")
    html = out.read_text()
    for text in ["cs236_vae-1", "a tiny VAE", "101.23", "98.50", "0.0123", "101.5 ± 0.55", "19.3",
                 "CS236 subset (100 images)", "full_test", "CS236 &lt;HW2&gt;", "✓", "✗",
                 "1 min 35 s", "iwae_k", "1, 10", "Samples prior", 'class="changed"']:
        assert text in html, text
    assert html.count("data:image/png;base64,") == 2  # loss curves + the one figure
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html)
    assert "Comparison" not in html
    after = sorted(p.relative_to(run) for p in run.rglob("*"))
    assert after == sorted([*before, Path("report.html")])  # nothing else written into the run


def test_report_of_two_runs_starts_with_a_comparison(tmp_path):
    a = _fake_run(tmp_path, "run-a")
    b = _fake_run(tmp_path, "run-b", results=None)
    html = write_report([a, b], tmp_path / "both.html").read_text()
    comparison = html[html.index("Comparison"):html.index('id="run-1"')]
    assert "run-a" in comparison and "run-b" in comparison and "-iwae_10" in comparison
    assert "not evaluated yet" in comparison
    assert "not evaluated yet (no results.json)" in html


def test_report_rejects_a_folder_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a latentlab run directory"):
        write_report([tmp_path / "empty"], tmp_path / "r.html")
    with pytest.raises(UserError, match="no config.toml"):
        write_report([tmp_path / "missing"], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_study_report_embeds_tables_checks_and_figures(tmp_path):
    from latentlab.checks import Check
    from latentlab.reporting.study import Section, Table, write_study_report
    from latentlab.viz.grid import image_grid, save_png

    png = save_png(image_grid(torch.rand(4, 1, 5, 5), nrow=2), tmp_path / "f.png")
    out = write_study_report(
        tmp_path / "report.html", name="demo", title="A study", budget="quick",
        sections=[Section("Numbers", "text <b>", [Table(["model", "nelbo"], [["vae", 101.234]], "t", "n")],
                          [("a figure", png)], [Check("nelbo ok", True, 101.2)])])
    html = out.read_text()
    assert "101.23" in html and "text &lt;b&gt;" in html and "data:image/png;base64" in html and "✓" in html
