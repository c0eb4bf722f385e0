"""The U-Net DDPM at scale: sampling in bounded chunks, exact resume and two gloo ranks through the trainer,
and the one-line refusals of bad input when the config is read."""

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import latentlab.models.ddpm as ddpm
from latentlab.config import TrainConfig
from latentlab.data.batcher import Batcher
from latentlab.registry import build_config, build_model
from latentlab.run import Run
from latentlab.training.distributed import World, barrier
from latentlab.training.trainer import Trainer

TINY_UNET = {"net": "unet", "channels": 4, "channel_mult": [1, 2], "res_blocks": 1, "timesteps": 10}


def tiny_unet(x_shape=(1, 6, 6), **extra):
    return build_model(build_config({"model": {"name": "ddpm", **TINY_UNET, **extra}}).model, x_shape)


# ----------------------------------------------------------------------------- sampling in chunks


def rows_seen(model) -> list[int]:
    """The batch size of every U-Net call from now on."""
    seen = []
    model.net.register_forward_pre_hook(lambda _, args: seen.append(len(args[0])))
    return seen


@pytest.mark.parametrize("sampler, eta, w", [("ancestral", 0.0, 0.0), ("ddim", 0.0, 0.0), ("ddim", 1.0, 0.0),
                                             ("ddim", 0.0, 2.0), ("ancestral", 0.0, 1.5)])
def test_chunked_sampling_equals_one_call_and_never_feeds_the_unet_more_than_a_chunk(monkeypatch, sampler, eta, w):
    """The rule: x_T, the labels and each step's noise are drawn for all n at once, so the chunks change only the
    batching of the network's kernels (float rounding, ~1e-6), never the random numbers."""
    torch.manual_seed(0)
    model = tiny_unet(conditional=w > 0, sampler=sampler, ddim_steps=4, ddim_eta=eta).eval()
    seen = rows_seen(model)
    whole = model.sample(11, generator=torch.Generator().manual_seed(5), w=w)
    assert max(seen) == (22 if w else 11)  # one call for all n while the chunk holds them
    seen.clear()
    monkeypatch.setattr(ddpm, "SAMPLE_CHUNK", 4)
    chunked = model.sample(11, generator=torch.Generator().manual_seed(5), w=w)
    steps = model.num_timesteps if sampler == "ancestral" else 4
    assert max(seen) == 4 and len(seen) == steps * (6 if w else 3)  # a guided call: 2 images as 4 rows (y and ∅)
    # other random numbers would give other samples (differences of order 1); measured here: 6e-8 to 4.3e-6
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)
    monkeypatch.setattr(ddpm, "SAMPLE_CHUNK", 1)  # the smallest chunk: one row a call even when guided
    seen.clear()
    model.sample(3, generator=torch.Generator().manual_seed(5), w=w)
    assert set(seen) == ({2} if w else {1})


def test_the_mlp_on_points_samples_in_one_call():
    """The 2-D MLP's activations are a few hundred floats a row: it samples at once, as the recorded runs did."""
    model = build_model(build_config({"model": {"name": "ddpm", "timesteps": 5, "hidden": 8, "blocks": 1}}).model,
                        (2,))
    seen = rows_seen(model)
    model.sample(ddpm.SAMPLE_CHUNK + 3, generator=torch.Generator().manual_seed(0))
    assert set(seen) == {ddpm.SAMPLE_CHUNK + 3}


# ----------------------------------------------------------------------------- resume and two gloo ranks


def _trainer(run_dir: Path, iterations: int, conditional: bool, world: World = World()) -> Trainer:
    torch.manual_seed(0)
    model = tiny_unet(conditional=conditional, label_dropout=0.5)
    torch.manual_seed(7919 * world.rank)  # each rank its own noise (t, ε, ∅), as api.train seeds them
    data = {"x": torch.rand(40, 1, 6, 6, generator=torch.Generator().manual_seed(1)), "y": torch.arange(40) % 10}
    stream = Batcher(data, 8, seed=0, binarization="none", rank=world.rank, world_size=world.size)
    cfg = TrainConfig(iterations=iterations, log_every=2, checkpoint_every=3, ema=0.9, grad_clip=1.0)
    return Trainer(model, stream, cfg, Run(run_dir), quiet=True, world=world)


def _uninterrupted_and_resumed(tmp: Path, conditional: bool, world: World) -> dict:
    """Train 6 steps at once, and 3 steps then a fresh trainer resumed to 6; both states by name."""
    whole = _trainer(tmp / "whole", 6, conditional, world)
    whole.fit()
    _trainer(tmp / "split", 3, conditional, world).fit()
    barrier(world)  # rank 0 has written the checkpoint (api.train waits so too)
    torch.manual_seed(123 + world.rank)  # another process state: the resume must not depend on it
    resumed = _trainer(tmp / "split", 6, conditional, world)
    assert resumed.resume() and resumed.step == 3
    resumed.fit()
    return {**{f"whole.{k}": v for k, v in whole.model.state_dict().items()},
            **{f"whole.ema.{k}": v for k, v in whole.ema.items()},
            **{f"resumed.{k}": v for k, v in resumed.model.state_dict().items()},
            **{f"resumed.ema.{k}": v for k, v in resumed.ema.items()}}


def _rank_main(rank: int, port: int, tmp: str, conditional: bool) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        states = _uninterrupted_and_resumed(Path(tmp), conditional, World(rank, 2, rank))
        torch.save(states, Path(tmp) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_resumed_equals_whole(states: dict) -> None:
    for key, value in states.items():
        if key.startswith("whole."):
            assert torch.equal(value, states["resumed." + key.removeprefix("whole.")]), key


@pytest.mark.parametrize("conditional", [False, True])
def test_a_resumed_unet_ddpm_is_bit_identical_in_one_process(tmp_path, conditional):
    _assert_resumed_equals_whole(_uninterrupted_and_resumed(tmp_path, conditional, World()))


@pytest.mark.parametrize("conditional", [False, True])
def test_two_gloo_ranks_stay_in_step_and_resume_exactly(tmp_path, conditional):
    """Each rank draws its own t, ε and dropped labels for its share of the batch; the averaged gradients keep the
    ranks' parameters equal, and a resume restores every rank's random stream from the checkpoint."""
    mp.spawn(_rank_main, args=(_free_port(), str(tmp_path), conditional), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for states in ranks:
        _assert_resumed_equals_whole(states)
    for key, value in ranks[0].items():
        assert torch.equal(value, ranks[1][key]), key
    single = _uninterrupted_and_resumed(tmp_path / "single", conditional, World())
    assert not torch.equal(single["whole.net.inp.weight"], ranks[0]["whole.net.inp.weight"])  # two shares: other steps


# ----------------------------------------------------------------------------- refusals, one line and exit 2


@pytest.mark.parametrize("preset, sets, message", [
    ("ddpm_8gaussians", ['model.net="unet"'],
     'model.net = "unet" is not accepted: "mlp" for data.name = "8gaussians" (points)'),
    ("ddpm_mnist", ["model.guidance=2.0"], "model.guidance = 2.0 is not accepted: 0 without labels"),
    ("ddpm_mnist", ["model.timesteps=20"], "model.ddim_steps = 50 is not accepted: an integer in [1, model.timesteps = 20]"),
    ("ddpm_mnist", ["model.ddim_steps=0"], "model.ddim_steps = 0 is not accepted: a positive integer"),
    ("ddpm_mnist", ["model.timesteps=0"], "model.timesteps = 0 is not accepted: a positive integer"),
    ("ddpm_mnist", ['model.net="mlp"', "model.conditional=true"], "model.conditional = true is not accepted"),
])
def test_bad_input_is_refused_when_the_config_is_read(capsys, tmp_path, preset, sets, message):
    from latentlab.cli import main

    argv = ["train", preset, "--out", str(tmp_path / "run"), "--quiet"]
    code = main([*argv, *[a for s in sets for a in ("--set", s)]])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()  # refused before a run directory or any data


def test_a_unet_on_a_table_and_a_conditional_model_on_unlabelled_images_are_refused_before_training(
        capsys, tmp_path, monkeypatch):
    """Only the file tells a table from images and whether a folder has classes: refused once it is read."""
    import numpy as np
    from PIL import Image

    from latentlab.cli import main

    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path / "cache"))
    np.savez(tmp_path / "table.npz", x=np.random.default_rng(0).normal(size=(30, 5)))
    (tmp_path / "photos").mkdir()
    for i in range(6):  # no class subfolders: no labels
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / "photos" / f"{i}.png")
    common = ["--quiet", "--set", 'eval.protocol="none"', "--set", "train.iterations=2", "--set", "train.batch_size=2"]
    cases = [(["--set", 'data.name="array"', "--set", f'data.path="{tmp_path / "table.npz"}"'],
              'model.net = "unet" is not accepted for data of shape (5,)'),
             (["--set", 'data.name="folder"', "--set", f'data.path="{tmp_path / "photos"}"', "--set",
               "model.conditional=true"], 'model.name = "ddpm" needs labels, and these data have none')]
    for i, (sets, message) in enumerate(cases):
        run = tmp_path / f"run{i}"
        code = main(["train", "ddpm_mnist", "--out", str(run), *common, *sets])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err
        assert not (run / "checkpoints").exists()
