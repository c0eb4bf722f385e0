"""`latentlab study score-2d --budget quick` end to end: runs, results beside floors, figures, one report."""

import base64
import json

from conftest import run_study

from latentlab.cli import main


def test_score_2d_quick_study_writes_runs_figures_and_report(quick_study):
    out = quick_study("score-2d")
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["results"]) == {"8gaussians", "moons"}
    for name, per_model in summary["results"].items():
        assert set(per_model) == {"ncsn", "ddpm"}
        for model, r in per_model.items():
            assert r["protocol"]["name"] == "samples2d" and r["protocol"]["distribution"] == name
            samples, floor = r["sections"]["samples"], r["sections"]["floor"]
            assert {"energy", "mmd2", "sw"} <= set(floor) and all(floor[k] > 0 for k in ("energy", "mmd2", "sw"))
            if name == "8gaussians":  # a mixture: modes, within 3σ and the score error at three levels
                assert {"modes_covered", "within_3sigma", "score_err@1", "score_err@0.05"} <= set(samples)
                assert len(r["checks"]) == 3
            else:
                assert "modes_covered" not in samples and len(r["checks"]) == 1
            assert (out / "runs" / f"{model}-{name}" / "checkpoints").is_dir()
    figures = {p.name for p in (out / "figures").glob("*.png")}
    for name in ("8gaussians", "moons"):
        assert {f"{name}-samples.png", f"{name}-field-ncsn.png", f"{name}-field-ddpm.png",
                f"{name}-trajectories.png"} <= figures
    html = (out / "report.html").read_text()
    assert "energy distance" in html and "floor" in html
    for png in (out / "figures").glob("*.png"):  # each named figure is the one embedded in the page
        assert base64.b64encode(png.read_bytes()).decode() in html, png
    # the same command again reuses the finished runs: same numbers, figures and report redrawn
    (out / "runs" / "ddpm-moons" / "results.json").unlink()  # as if interrupted after training
    assert run_study("score-2d", out) == (0, "")
    again = json.loads((out / "summary.json").read_text())
    assert "3 finished runs reused" in again["conditions"]
    assert again["results"]["8gaussians"] == summary["results"]["8gaussians"]


def test_train_eval_and_sample_a_2d_preset(tmp_path, capsys):
    run = tmp_path / "ddpm"
    tiny = ["--set", "train.iterations=30", "--set", "model.timesteps=20", "--set", "eval.n_samples=100",
            "--set", "data.n_train=500", "--set", 'data.name="25gaussians"', "--quiet"]
    assert main(["train", "ddpm_8gaussians", "--out", str(run), *tiny]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["protocol"]["name"] == "samples2d" and results["protocol"]["distribution"] == "25gaussians"
    assert {"samples", "floor"} <= set(results["sections"]) and len(results["checks"]) == 3
    assert {p.name for p in (run / "figures").glob("*.png")} == {"samples.png", "score_field.png",
                                                                 "trajectories.png", "loss_curves.png"}
    assert main(["sample", str(run), "-n", "50"]) == 0
    assert (run / "samples" / "samples-seed0.png").exists()
    capsys.readouterr()
    assert main(["train", "ddpm_8gaussians", "--out", str(tmp_path / "bad"), "--set", 'data.binarize="dynamic"',
                 "--quiet"]) == 2
    assert 'data.binarize = "dynamic" is not accepted: "none" for the 2-D distribution' in capsys.readouterr().err
