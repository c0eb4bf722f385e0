"""The benchmark suite: analytic FLOPs, and one tiny measured case end to end."""

import json

import torch

from latentlab import bench
from latentlab.config import load
from latentlab.registry import build_model


def test_step_flops_of_the_v1_vae_match_the_hand_count():
    cfg, _ = load("cs236_vae")
    model = build_model(cfg.model, (1, 28, 28))
    flops = bench.step_flops_per_image(model, {"x": torch.rand(97, 1, 28, 28)}, model.phases)
    # Guards the hardware-limit denominator. Per image, the six Linear layers hold
    # 784·300 + 300·300 + 300·20 + 10·300 + 300·300 + 300·784 = 659,400 multiply-adds: forward
    # 659,400; backward weight gradients 659,400; input gradients 659,400 - 784·300 (x needs none).
    assert flops == 2 * (659_400 + 659_400 + 659_400 - 784 * 300)


def test_bench_writes_a_result_per_case(tmp_path, data_root):
    results = bench.run(tmp_path, iterations=3, rounds=1, data_dir=data_root, only=["cs236_vae"], compile=False,
                        quiet=True)
    r = json.loads((tmp_path / "cs236_vae.json").read_text())
    assert r["status"] == "measured" and set(r["images_per_s"]) == {"starter", "tensor", "latentlab"}
    assert 0 < r["fraction_of_limit"]["latentlab"] and r["machine"]["torch"] == torch.__version__
    assert results["cs236_vae"]["speedup"]["starter"] > 0
