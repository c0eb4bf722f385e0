"""Throughput of the cs236_vae training step: latentlab's trainer against a reference loop.

The references are what course starter code does: a torch DataLoader over a per-item
Dataset that binarizes each item, default Adam, the same VAE. "starter" decodes each item
as torchvision's MNIST does (PIL image, ToTensor); "tensor" is the leanest possible
per-item dataset (index a float tensor). Both run in this process,
interleaved, best of several rounds (the machine is shared and noisy); the ratio is the result.

    python bench/train_step.py [--iterations 400] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from latentlab.config import TrainConfig, load
from latentlab.data.batcher import Batcher
from latentlab.registry import build_model
from latentlab.training.trainer import Trainer


class StarterMNIST(Dataset):
    """What torchvision's MNIST + ToTensor does per item (PIL image, then float/255), plus binarization.

    This is the CS236 starter code's pipeline: datasets.MNIST(transform=ToTensor()) behind a
    DataLoader; a fresh Bernoulli draw per image.
    """

    def __init__(self, x: torch.Tensor):
        self.pixels = (x * 255).round().to(torch.uint8).squeeze(1).numpy()

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        img = Image.fromarray(self.pixels[i], mode="L")
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).unsqueeze(0)
        return torch.bernoulli(x)


class TensorMNIST(Dataset):
    """The leanest per-item dataset: index a float tensor, binarize the item."""

    def __init__(self, x: torch.Tensor):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return torch.bernoulli(self.x[i])


def train_images() -> torch.Tensor:
    try:
        from latentlab.data.datasets import load_images
        from latentlab.data.root import data_root

        return load_images("mnist", data_root(None)).train_x
    except Exception:  # no data here: the step costs the same on random pixels
        return torch.rand(60_000, 1, 28, 28)


def reference_loop(model, dataset: Dataset, iterations: int, batch_size: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader, done, t0 = DataLoader(dataset, batch_size=batch_size, shuffle=True), 0, time.perf_counter()
    while done < iterations:
        for xb in loader:
            loss = model.loss({"x": xb}, "model")["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == iterations:
                break
    return time.perf_counter() - t0


def latentlab_loop(model, x, iterations: int, cfg: TrainConfig) -> float:
    batcher = Batcher({"x": x}, cfg.batch_size, seed=0, binarization="dynamic")
    trainer = Trainer(model, batcher, TrainConfig(**{**cfg.__dict__, "iterations": iterations, "log_every": 100,
                                                     "checkpoint_every": 10**9}), None, quiet=True)
    t0 = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "cs236_vae_step.json"))
    args = ap.parse_args()
    config, _ = load("cs236_vae")
    x = train_images()
    references = {"starter": StarterMNIST(x), "tensor": TensorMNIST(x)}
    times = {name: [] for name in (*references, "latentlab")}
    for _ in range(args.rounds):  # interleaved
        for name, dataset in references.items():
            torch.manual_seed(0)
            times[name].append(reference_loop(build_model(config.model, (1, 28, 28)), dataset, args.iterations, 97))
        torch.manual_seed(0)
        times["latentlab"].append(latentlab_loop(build_model(config.model, (1, 28, 28)), x, args.iterations, config.train))
    best = {k: min(v) for k, v in times.items()}
    result = {
        "benchmark": "cs236_vae training step (batch 97, v1 MLPs, z=10)",
        "references": {"starter": StarterMNIST.__doc__.split("\n")[0], "tensor": TensorMNIST.__doc__},
        "iterations_per_round": args.iterations,
        "rounds": args.rounds,
        "images_per_s": {k: round(args.iterations * 97 / t, 1) for k, t in best.items()},
        "seconds_per_20k_iterations": {k: round(t / args.iterations * 20_000, 1) for k, t in best.items()},
        "speedup_vs_starter": round(best["starter"] / best["latentlab"], 2),
        "speedup_vs_tensor": round(best["tensor"] / best["latentlab"], 2),
        "all_times_s": times,
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("all_times_s", "references")}, indent=2))


if __name__ == "__main__":
    main()
