"""The GAN studies run end to end with the quick budget (their numbers there are not meaningful)."""

import json

from latentlab.cli import main


def test_gan_theory_quick(tmp_path):
    out = tmp_path / "theory"
    assert main(["study", "gan-theory", "--budget", "quick", "--out", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert {"optimal_discriminator", "minimax_value", "parallel_segments", "mode_collapse"} <= set(results)
    assert len(results["mode_collapse"]["runs"]) == 6  # 3 objectives × 2 mixtures
    for name in ("optimal_discriminator.png", "minimax_value.png", "parallel_segments.png", "modes_over_training.png",
                 "samples_8gaussians.png", "samples_25gaussians.png", "report.html"):
        assert (out / name).stat().st_size > 0, name


def test_gan_mnist_quick(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path / "cache"))  # the quick classifier stays in tmp
    out = tmp_path / "mnist"
    assert main(["study", "gan-mnist", "--budget", "quick", "--out", str(out), "--quiet",
                 "--data-dir", str(data_root)]) == 0
    results = json.loads((out / "results.json").read_text())
    expected = {"minimax", "nonsaturating", "least_squares", "wgan_clip", "wgan_gp", "vae.samples",
                "vae.decoder_means", "floor"}
    assert set(results["scores"]) == expected
    assert all(s["fid"] >= 0 and 1.0 <= s["is"] <= 10.0 for s in results["scores"].values())
    assert len(results["classifier"]["sha256"]) == 64
    assert (out / "samples.png").exists() and (out / "report.html").exists()
