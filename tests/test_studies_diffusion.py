"""The diffusion-mnist study end to end at the quick budget (its numbers there are not meaningful: the shapes,
the bookkeeping and the pages are), and its measurements on a tiny model."""

import json
import math

import torch

from latentlab.registry import build_config, build_model
from latentlab.studies import diffusion_measures as measure

TINY = {"name": "ddpm", "net": "unet", "timesteps": 100, "channels": 8, "channel_mult": [1, 2], "res_blocks": 1,
        "attention": False}


def test_diffusion_mnist_quick(quick_study):
    out = quick_study("diffusion-mnist")
    summary = json.loads((out / "summary.json").read_text())
    sweep = summary["sweep"]
    assert [(r["sampler"], r["eta"], r["steps"], r["n"]) for r in sweep] == [
        ("ddim", 0.0, 10, 40), ("ddim", 0.0, 20, 40), ("ancestral", 1.0, 100, 20), ("ddim", 0.0, 50, 20),
        ("ddim", 1.0, 10, 40), ("ddim", 1.0, 20, 40)]  # η = 0, the ancestral set, then the stochastic DDIM rows
    assert sweep[3]["paired"] and all(math.isfinite(r["fid"]) and r["s_per_1000"] > 0 for r in sweep)
    assert [r["w"] for r in summary["guided"]] == [0.0, 2.0]
    assert all(0 <= r["accuracy"] <= 100 and r["n"] == 40 for r in summary["guided"])
    assert [r["step"] for r in summary["training"]] == [15, 30]  # one row per checkpoint
    labels = list(summary["families"])
    assert labels == ["DDPM, DDIM-50", "GAN, non-saturating", "GAN, least squares", "VAE, x ~ p(x|z)", "VAE, E[x|z]",
                      "real: training images (the floor)"]
    fids = [q["fid"] for q in summary["families"].values()]
    assert all(fids[-1] < fid for fid in fids[:-1])  # 30-step models are far from real images (the floor is last)
    assert set(summary["seconds"]["sampling_per_1000"]) == {"nonsaturating", "least_squares", "vae"}
    names = [c["name"] for c in summary["checks"]]
    assert any("DDIM-50's FID within" in n for n in names) and any("guided samples" in n for n in names)
    assert any("below the non-saturating GAN's" in n for n in names)
    for name in ("forward_process.png", "reverse_process.png", "steps.png", "samples_by_sampler.png", "guided.png",
                 "guidance.png", "training.png", "report.html"):
        assert (out / name).stat().st_size > 0, name


def test_the_forward_process_ends_near_n01_and_the_reverse_path_ends_at_the_sample():
    torch.manual_seed(0)
    model = build_model(build_config({"model": TINY}).model, (1, 12, 12)).eval()
    x0 = torch.rand(64, 1, 12, 12)
    shown = measure.forward_and_reverse(model, x0, (0, 99), n_paths=3, frames=5)
    assert shown["forward"].shape == (64, 2, 1, 12, 12) and shown["reverse"].shape == (3, 5, 1, 12, 12)
    # t = 0: x_1 = √ᾱ_1 x_0 + √(1 - ᾱ_1) ε with β_1 = 1e-3 (1e-4 at T = 1000, scaled by 1000/T): within 0.15 of x_0
    assert float((shown["forward"][:, 0] - x0).abs().max()) < 0.15
    # t = T - 1: ᾱ_T ≈ 6e-3, so x_T is nearly N(0, 1) in the chain's space; shown as (x + 1)/2 clamped to [0, 1],
    # P(Z < -1) ≈ 0.159 of the pixels clamp to 0 (9,216 pixels: sd of the share ≈ 0.004)
    assert 0.14 < float((shown["forward"][:, 1] == 0).float().mean()) < 0.18
    g = torch.Generator().manual_seed(0)
    torch.randn(x0.shape, generator=g)  # forward_and_reverse draws ε first, then the path from the same generator
    x = measure.with_sampler(model, "ddim", 50).sample(3, generator=g)
    torch.testing.assert_close(shown["reverse"][:, -1], x.clamp(0, 1))


def test_timed_samples_chunk_and_keep_labels(monkeypatch):
    torch.manual_seed(0)
    model = build_model(build_config({"model": {**TINY, "conditional": True}}).model, (1, 8, 8)).eval()
    measure.with_sampler(model, "ddim", 3)
    y = torch.arange(10).repeat_interleave(2)
    monkeypatch.setattr(measure, "CHUNK", 7)
    chunked, seconds = measure.timed_samples(model, 20, 0, y=y, w=1.0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # chunks of 7, 7 and 6 images, each with its own labels, from one generator in turn
        by_hand = torch.cat([model.sample(len(yb), generator=g, y=yb, w=1.0) for yb in (y[:7], y[7:14], y[14:])])
    assert chunked.shape == (20, 1, 8, 8) and seconds > 0
    torch.testing.assert_close(chunked, by_hand.clamp(0, 1), rtol=0, atol=0)
