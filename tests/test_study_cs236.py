"""The cs236-hw2 study end to end on the quick budget, and its seed aggregation."""

import json

from latentlab.cli import main
from latentlab.studies.cs236_hw2_report import mean_sd


def test_mean_sd_over_seeds():
    assert mean_sd([2.0]) == 2.0 and mean_sd([None]) is None
    assert mean_sd([1.0, 3.0]) == "2.00 ± 1.41"  # sample sd of {1, 3} is √2
    assert mean_sd([1.0, 1.002]) == "1.00 ± 0.001"  # a small sd keeps one significant digit


def test_quick_study_trains_everything_and_writes_one_report(data_root, tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["study", "cs236-hw2", "--budget", "quick", "--out", str(out), "--quiet",
                 "--data-dir", str(data_root)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {out / 'report.html'}"
    summary = json.loads((out / "summary.json").read_text())
    runs = summary["runs"]
    assert set(runs) == {"vae", "gmvae", "ssvae_gw0", "ssvae_gw1", "cvae_mnist", "cvae_fashion",
                         "beta_0.25", "beta_0.5", "beta_1", "beta_2", "beta_4"}
    assert {"nelbo", "kl", "rec", "-iwae_1", "-iwae_10"} <= set(runs["gmvae"][0]["sections"]["subset"])
    assert 0 <= runs["ssvae_gw1"][0]["sections"]["test"]["accuracy"] <= 100
    assert "-iwae_1" in runs["cvae_fashion"][0]["sections"]["full_test"]
    html = (out / "report.html").read_text()
    for text in ("VAE reference", "GMVAE reference", "93.4 ± 1.4", "73.5", "β-VAE sweep", "Fashion-MNIST",
                 "accuracy ≥ 92.5", "nelbo ≤ 99.0", "GMVAE below the VAE"):
        assert text in html, text
    assert html.count("data:image/png;base64,") == 7  # 2 sample grids, 3 conditional grids, β curves, β gallery
    for run, name in (("vae", "samples.png"), ("cvae_mnist", "conditional_samples.png")):
        assert (out / "runs" / run / "figures" / name).exists(), (run, name)
    # run again into the same folder: every finished run is reused, not trained again
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/results.json")}
    assert main(["study", "cs236-hw2", "--budget", "quick", "--out", str(out), "--quiet",
                 "--data-dir", str(data_root)]) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/results.json")} == stamps
    assert json.loads((out / "summary.json").read_text())["runs"] == runs
