"""Data parallelism: a 2-rank gloo run equals a single process on the same global batches."""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from latentlab.config import TrainConfig
from latentlab.data.batcher import Batcher
from latentlab.registry import build_config, build_model
from latentlab.run import Run
from latentlab.training.distributed import World
from latentlab.training.trainer import Trainer

STEPS, B = 12, 8  # per-rank batch b = 8; the single process takes 2b = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(world: World, out: Path | None) -> dict:
    # The AE's loss has no sampling inside, and dynamic binarization is drawn for the whole
    # global batch by the batcher, so both runs see the same examples and the same random draws.
    torch.manual_seed(0)
    model = build_model(build_config({"model": {"name": "ae", "z_dim": 3}}).model, (1, 6, 6))
    data = {"x": torch.rand(80, 1, 6, 6, generator=torch.Generator().manual_seed(1))}
    batcher = Batcher(data, 2 * B, seed=0, binarization="dynamic", rank=world.rank, world_size=world.size)
    cfg = TrainConfig(iterations=STEPS, lr=1e-3, grad_clip=1.0, checkpoint_every=10**9, log_every=10**9)
    Trainer(model, batcher, cfg, None if out is None else Run(out), quiet=True, world=world).fit()
    return {k: v.clone() for k, v in model.state_dict().items()}


def _rank_main(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        params = _train(World(rank, 2, rank), None)
        if rank == 0:
            torch.save(params, out)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_equal_one_process_with_the_global_batch(tmp_path):
    out = tmp_path / "ranks.pt"
    mp.spawn(_rank_main, args=(_free_port(), str(out)), nprocs=2, join=True)
    parallel = torch.load(out, weights_only=True)
    single = _train(World(), None)
    for name, p in single.items():
        torch.testing.assert_close(parallel[name], p, atol=1e-5, rtol=0, msg=name)


def test_torchrun_launch_needs_no_extra_flag(tmp_path, data_root):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this python")
    run = tmp_path / "ddp"
    cmd = [str(torchrun), "--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
           "-m", "latentlab", "train", "cs236_vae", "--out", str(run), "--data-dir", str(data_root), "--quiet",
           "--set", "train.iterations=20", "--set", "train.checkpoint_every=10", "--set", "train.log_every=10",
           "--set", "eval.subset_repeats=1", "--set", "eval.iwae_k=[1]", "--set", "eval.iwae_repeats=[1]",
           "--set", "eval.full_test=false"]
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    if tensorboard:
        cmd += ["--set", 'train.log=["jsonl","tensorboard"]', "--set", "train.image_every=10"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run / "results.json").exists() and (run / "report.html").exists()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [int(line.split('"step": ')[1].split(",")[0]) for line in lines] == [10, 20]  # rank 0 logs alone
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step-00000010.json", "step-00000010.safetensors", "step-00000020.json", "step-00000020.safetensors"]
    if tensorboard:  # rank 0 alone writes events too: every file is named events.out.tfevents.<time>.<host>.<pid>.<n>
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        assert len({p.name.split(".")[-2] for p in (run / "tensorboard").glob("events.out.tfevents.*")}) == 1
        tb = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0}).Reload()
        assert [e.step for e in tb.Scalars("model/loss")] == [10, 20]
        assert [e.step for e in tb.Images("samples")] == [10, 20]


def _train_cyclegan(world: World) -> dict:
    # Instance norm treats each image alone and every loss is a mean over equal shares, so the averaged
    # gradients are those of the global batch; the pools are still filling (they return their input).
    from latentlab.data.unpaired import UnpairedBatcher

    torch.manual_seed(0)
    model = build_model(build_config({"model": {"name": "cyclegan", "ngf": 4, "n_blocks": 1, "ndf": 4,
                                                "n_layers": 2}}).model, (3, 16, 16))
    g = torch.Generator().manual_seed(1)
    x_X, x_Y = (torch.randint(0, 256, (10, 3, 20, 20), generator=g, dtype=torch.uint8) for _ in range(2))
    batcher = UnpairedBatcher(x_X, x_Y, 4, seed=0, crop=16, flip=True, rank=world.rank, world_size=world.size)
    cfg = TrainConfig(iterations=2, lr=2e-4, betas=(0.5, 0.999), checkpoint_every=10**9, log_every=10**9)
    Trainer(model, batcher, cfg, None, quiet=True, world=world).fit()
    return {k: v.clone() for k, v in model.state_dict().items() if v.is_floating_point()}


def _cyclegan_rank_main(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        params = _train_cyclegan(World(rank, 2, rank))
        if rank == 0:
            torch.save(params, out)
    finally:
        dist.destroy_process_group()


def test_cyclegan_two_gloo_ranks_equal_one_process_with_the_global_batch(tmp_path):
    out = tmp_path / "ranks.pt"
    mp.spawn(_cyclegan_rank_main, args=(_free_port(), str(out)), nprocs=2, join=True)
    parallel = torch.load(out, weights_only=True)
    single = _train_cyclegan(World())
    for name, p in single.items():
        if not name.startswith("pool_"):  # each rank pools its own share of the generated images
            torch.testing.assert_close(parallel[name], p, atol=1e-5, rtol=0, msg=name)
