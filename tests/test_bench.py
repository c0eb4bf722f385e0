"""The benchmark suite: analytic FLOPs, and one tiny measured case end to end."""

import json

import pytest
import torch

from latentlab import bench
from latentlab.registry import build_model, load_config


def test_step_flops_of_the_v1_vae_match_the_hand_count():
    cfg, _ = load_config("cs236_vae")
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
    assert r["machine"]["torch"] == torch.__version__
    limit = r["matmul_flops_per_s"] / r["flops_per_image"]
    assert r["hardware_limit_images_per_s"] == pytest.approx(limit, abs=0.05)
    for k, seconds in r["all_seconds"].items():  # throughput is images over the best round's seconds
        ips = 3 * r["batch_size"] / min(seconds)
        assert r["images_per_s"][k] == pytest.approx(ips, abs=0.05)
        # the share of the hardware limit, which is the measured matmul peak over the flops per image
        assert r["fraction_of_limit"][k] == pytest.approx(ips / limit, abs=5e-4) and r["fraction_of_limit"][k] > 0
    for k, speedup in results["cs236_vae"]["speedup"].items():
        assert speedup == pytest.approx(r["images_per_s"]["latentlab"] / r["images_per_s"][k], rel=0.01)


def test_the_unet_ddpm_case_times_each_switch_beside_plain_fp32(tmp_path, data_root):
    bench.run(tmp_path, iterations=1, rounds=1, data_dir=data_root, only=["unet_ddpm"], compile=False, quiet=True)
    r = json.loads((tmp_path / "unet_ddpm.json").read_text())
    assert set(r["images_per_s"]) == {"starter", "tensor", "latentlab", "latentlab_bf16", "latentlab_channels_last"}
    assert r["preset"] == "ddpm_mnist" and r["warmup_steps"] == 5
    for k, ratio in r["ratio_to_fp32"].items():  # each switch's throughput over the plain fp32 step's
        assert ratio == pytest.approx(r["images_per_s"][k] / r["images_per_s"]["latentlab"], rel=0.01)
    # ddpm_mnist's U-Net (16/32/64 channels, attention at 7×7) costs 0.42 GFLOP per image and step (measured
    # 420,443,392 FLOPs: convolutions 0.14 forward and 0.28 backward); guards the case's hardware limit
    assert r["flops_per_image"] == pytest.approx(4.204e8, rel=1e-3)


def _bench_script(name: str):
    """The module of bench/<name>.py (bench/ is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_subset_binarization_evaluates_the_protocol_draw_and_others(tmp_path, data_root, monkeypatch, capsys):
    from latentlab import api

    monkeypatch.setenv("LATENTLAB_DATA", str(data_root))
    run = api.train("cs236_vae", overrides=["train.iterations=2", "eval.full_test=false"], out=tmp_path / "vae",
                    data_dir=data_root, quiet=True, evaluate_after=False)
    script = _bench_script("subset_binarization")
    out = tmp_path / "sens.json"
    assert script.main([str(run), "--draws", "2", "--repeats", "1", "--out", str(out)]) == 0
    r = json.loads(out.read_text())["runs"][str(run)]
    assert set(r) == {"protocol", "starter_code", "other_draws_nelbo", "other_draws_-iwae_1000"}
    assert len(r["other_draws_nelbo"]["values"]) == 2 and r["other_draws_nelbo"]["sd"] > 0  # different draws
    assert r["protocol"]["-iwae_1000"] <= r["protocol"]["nelbo"] + 1.0  # IWAE-1000 is the tighter bound

    assert script.main([str(tmp_path / "missing"), "--out", str(out)]) == 2  # one line, the good file kept
    assert "does not exist" in capsys.readouterr().err and json.loads(out.read_text())["runs"]


def test_ssvae_checkpoints_reads_the_accuracy_at_every_checkpoint(tmp_path, data_root, monkeypatch, capsys):
    from latentlab import api

    monkeypatch.setenv("LATENTLAB_DATA", str(data_root))
    run = api.train("cs236_ssvae", overrides=["train.iterations=4", "train.checkpoint_every=2"],
                    out=tmp_path / "ssvae", data_dir=data_root, quiet=True, evaluate_after=False)
    script = _bench_script("ssvae_checkpoints")
    out = tmp_path / "curve.json"
    assert script.main([str(run), "--out", str(out)]) == 0
    curve = json.loads(out.read_text())["runs"][str(run)]
    assert list(curve) == ["2", "4"]
    from latentlab.evaluation.bound_protocols import accuracy
    from latentlab.run.checkpoint import load_checkpoint

    from latentlab.data.handoff import prepare
    from latentlab.run import Run

    model = api.load_model(run, "cpu")  # the newest checkpoint: step 4
    data = prepare(Run.open(run).config, data_root, "cpu")
    assert curve["4"] == accuracy(model, data.test_x, data.test_y, 2000)
    model.load_state_dict(load_checkpoint(run / "checkpoints" / "step-00000002.json")[1]["model"])
    assert curve["2"] == accuracy(model, data.test_x, data.test_y, 2000)  # each checkpoint's own weights
    assert capsys.readouterr().out.startswith(f"{run}: step 2 ")  # one line per run

    vae = api.train("cs236_vae", overrides=["train.iterations=1"], out=tmp_path / "vae", data_dir=data_root,
                    quiet=True, evaluate_after=False)
    assert script.main([str(vae), "--out", str(out)]) == 2  # a VAE run: one line, the good file kept
    assert "not an SSVAE" in capsys.readouterr().err and json.loads(out.read_text())["runs"]


def test_the_cyclegan_case_counts_image_pairs_on_unpaired_batches(tmp_path, monkeypatch, one_thread):
    from torch.utils.flop_counter import FlopCounterMode

    tiny = bench.Case("cyclegan", "", ("model.ngf=4", "model.n_blocks=1", "model.ndf=4", "model.n_layers=2",
                                       "train.batch_size=2"), needs="cyclegan", unpaired=True)
    monkeypatch.setattr(bench, "CASES", (tiny,))
    monkeypatch.setattr(bench, "synthetic_domains",  # 24 px loads, cropped to 16
                        lambda: tuple(torch.randint(0, 256, (6, 3, 24, 24), dtype=torch.uint8) for _ in range(2)))
    r = bench.run(tmp_path, iterations=1, rounds=1, only=["cyclegan"], compile=False, quiet=True)["cyclegan"]
    assert r["status"] == "measured" and set(r["images_per_s"]) == {"per_item", "latentlab"}
    # a lower bound per pair: the generator phase runs G and F three times each forward (translation,
    # cycle, identity) and the discriminator phase once each more: at least 8 forward passes of G
    G = build_model(bench.case_config(tiny).model, (3, 16, 16)).G
    with FlopCounterMode(display=False) as counter:
        G(torch.rand(1, 3, 16, 16))
    assert r["flops_per_image"] > 8 * counter.get_total_flops()
