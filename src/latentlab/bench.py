"""Throughput of training steps, beside a reference loop and the hardware limit.

For each benchmarked model: images/s of latentlab's trainer; images/s of straightforward
reference loops (a torch DataLoader over a per-item Dataset that binarizes each item, default
optimizer: what course starter code does) — "tensor" indexes a float tensor per item,
"starter" decodes each image as torchvision's MNIST + ToTensor does (PIL image, then /255),
as the CS236 starter code's loader does; same model, same process, interleaved, best of
several rounds; and the fraction of the hardware limit, limit = (measured matmul FLOP/s) /
(analytic FLOPs of one training step per image, counted by torch's FlopCounterMode over the
forward and backward pass). `make bench` / `latentlab bench` writes bench/results/*.json.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from dataclasses import replace

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from latentlab import config as config_io
from latentlab.config import Config
from latentlab.data.batcher import Batcher, as_float
from latentlab.data.unpaired import UnpairedBatcher
from latentlab.errors import UserError
from latentlab.files import atomic_write
from latentlab.registry import MODELS, build_config, build_model, load_config
from latentlab.training.trainer import Trainer


@dataclass(frozen=True)
class Case:
    name: str
    preset: str
    overrides: tuple[str, ...] = ()
    needs: str = ""  # a model name that must be registered; otherwise the case is pending
    unpaired: bool = False  # two domains: batches {"x", "x_b"}, counted per image pair
    warmup: int = 20  # untimed trainer steps before each timed round (where torch.compile compiles)
    variants: tuple[str, ...] = ()  # switches of VARIANTS measured beside the plain fp32 trainer (compile: --no-compile)


# the trainer's speed switches, each measured as latentlab_<name> against the preset's plain fp32 step
VARIANTS = {"compile": {"compile": True}, "bf16": {"precision": "bf16"}, "channels_last": {"channels_last": True}}


# CycleGAN at the CPU scale (64 px, ResNet-6, ngf 32, batch 4), the paper's losses and pool; synthetic
# uint8 images (the cost of a conv net does not depend on the pixel values), loaded at 72 px and cropped
CYCLEGAN_CPU = {
    "model": {"name": "cyclegan", "ngf": 32, "n_blocks": 6},
    "train": {"batch_size": 4, "lr": 2e-4, "betas": [0.5, 0.999]},
}


CASES = (
    Case("cs236_vae", "cs236_vae"),
    Case("conv_vae", "cs236_vae", ("model.net=conv",)),
    Case("gan", "gan_mnist", needs="gan"),
    Case("diffusion", "ddpm_8gaussians", needs="ddpm"),
    Case("cyclegan", "", needs="cyclegan", unpaired=True),
    Case("unet_ddpm", "ddpm_mnist", needs="ddpm", warmup=5, variants=("bf16", "channels_last")),  # ~0.5 s a step
)


def case_config(case: Case) -> Config:
    if case.preset:
        return load_config(case.preset, list(case.overrides))[0]
    return build_config(config_io.apply_overrides(CYCLEGAN_CPU, list(case.overrides)))


def synthetic_domains(n: int = 1019, load: int = 72, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two domains of n uint8 RGB images, load×load: apple2orange's trainB count at the CPU preset's size."""
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randint(0, 256, (n, 3, load, load), generator=g, dtype=torch.uint8) for _ in range(2))


class UnpairedItems(Dataset):
    """The reference implementation's unaligned dataset, per item: image i of X, a random image of Y,
    each randomly cropped and flipped, as float in [0, 1]."""

    def __init__(self, x_X: torch.Tensor, x_Y: torch.Tensor, crop: int):
        self.x_X, self.x_Y, self.crop = x_X, x_Y, crop

    def __len__(self):
        return len(self.x_X)

    def _augment(self, img: torch.Tensor) -> torch.Tensor:
        top, left = (int(v) for v in torch.randint(img.shape[-1] - self.crop + 1, (2,)))
        img = img[:, top: top + self.crop, left: left + self.crop]
        return (img.flip(-1) if torch.rand(()) < 0.5 else img).float() / 255

    def __getitem__(self, i):
        j = int(torch.randint(len(self.x_Y), ()))
        return {"x": self._augment(self.x_X[i]), "x_b": self._augment(self.x_Y[j])}


class TensorItems(Dataset):
    """The leanest per-item reference: index a float tensor, binarize the item if the config does."""

    def __init__(self, x: torch.Tensor, binarize: bool):
        self.x, self.binarize = x, binarize

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return torch.bernoulli(self.x[i]) if self.binarize else self.x[i]


class StarterItems(TensorItems):
    """torchvision's MNIST __getitem__ with ToTensor: a PIL image per item, then float/255."""

    def __init__(self, x: torch.Tensor, binarize: bool):
        super().__init__(x, binarize)
        self.pixels = (x * 255).round().to(torch.uint8).squeeze(1).numpy()

    def __getitem__(self, i):
        img = Image.fromarray(self.pixels[i], mode="L")
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).unsqueeze(0)
        return torch.bernoulli(x) if self.binarize else x


REFERENCES = {"starter": StarterItems, "tensor": TensorItems}


def matmul_flops_per_s(n: int = 1024, reps: int = 20) -> float:
    """Best-of-3 float32 matrix-multiply throughput on this machine (the hardware limit's numerator)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * reps / best


def step_flops_per_image(model, batch: dict, phases: tuple[str, ...]) -> float:
    """Analytic FLOPs (matmuls and convolutions) of one iteration's forward+backward, per image."""
    with FlopCounterMode(display=False) as counter:
        for phase in phases:
            model.loss(batch, phase)["loss"].backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(batch["x"])


def _reference_seconds(model, dataset: Dataset, cfg: Config, iterations: int) -> float:
    opts = {ph: torch.optim.Adam(p, lr=cfg.train.lr) for ph, p in model.parameter_groups().items()}
    loader = DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=True)
    done, t0 = 0, time.perf_counter()
    while done < iterations:
        for xb in loader:
            for phase in model.phases:
                loss = model.loss(xb if isinstance(xb, dict) else {"x": xb}, phase)["loss"]
                opts[phase].zero_grad()
                loss.backward()
                opts[phase].step()
            done += 1
            if done == iterations:
                break
    return time.perf_counter() - t0


def _latentlab_seconds(model, x, cfg: Config, iterations: int, warmup: int = 20) -> tuple[float, float]:
    """Seconds of `iterations` trainer steps, after `warmup` untimed ones (where torch.compile compiles).
    x: the images, or a pair of domains (X, Y) for unpaired batches cropped to the model's size."""
    if isinstance(x, tuple):
        batcher = UnpairedBatcher(*x, cfg.train.batch_size, seed=0, crop=model.x_shape[-1], flip=True)
    else:
        batcher = Batcher({"x": x}, cfg.train.batch_size, seed=0, binarization=cfg.data.binarize)
    train = replace(cfg.train, iterations=warmup, log_every=100, checkpoint_every=10**9)
    trainer = Trainer(model, batcher, train, None, quiet=True)
    t0 = time.perf_counter()
    trainer.fit()
    warm = time.perf_counter() - t0
    trainer.cfg = replace(train, iterations=warmup + iterations)
    t0 = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - t0, warm


def run_case(case: Case, x: torch.Tensor, cfg: Config, iterations: int, rounds: int, peak: float,
             compile: bool = True) -> dict:
    """Every loop of the case, interleaved, `rounds` times: the references, latentlab with the preset's
    settings, (if `compile`) with train.compile = true, its compile time reported apart, and with each of the
    case's `variants` (bf16 autocast, channels_last), each also as a ratio to the plain fp32 step."""
    if case.unpaired:  # x = (X, Y) uint8 at a load size 8 px above the model's; flops per image pair
        crop, b = x[0].shape[-1] - 8, cfg.train.batch_size
        shape = (x[0].shape[1], crop, crop)
        probe = build_model(cfg.model, shape)
        first = {k: as_float(v[:b, :, :crop, :crop]) for k, v in zip(("x", "x_b"), x)}
        flops = step_flops_per_image(probe, first, probe.phases)
        datasets = {"per_item": UnpairedItems(*x, crop)}
    else:
        shape = tuple(x.shape[1:])
        probe = build_model(cfg.model, shape)
        flops = step_flops_per_image(probe, {"x": x[: cfg.train.batch_size]}, probe.phases)
        binarize = cfg.data.binarize == "dynamic"
        images = x.dim() == 4 and x.shape[1] == 1
        datasets = {k: cls(x, binarize) for k, cls in REFERENCES.items() if images or cls is TensorItems}
    switches = (["compile"] if compile else []) + list(case.variants)
    ours = {"latentlab": cfg, **{f"latentlab_{v}": replace(cfg, train=replace(cfg.train, **VARIANTS[v])) for v in switches}}
    times = {k: [] for k in [*datasets, *ours]}
    warmup_s = {k: [] for k in ours}
    for _ in range(rounds):  # interleaved: the machine's noise hits every loop alike
        for name, dataset in datasets.items():
            torch.manual_seed(0)
            times[name].append(_reference_seconds(build_model(cfg.model, shape), dataset, cfg, iterations))
        for name, c in ours.items():
            torch.manual_seed(0)
            seconds, warm = _latentlab_seconds(build_model(cfg.model, shape), x, c, iterations, case.warmup)
            times[name].append(seconds)
            warmup_s[name].append(warm)
    per_s = {k: iterations * cfg.train.batch_size / min(v) for k, v in times.items()}
    limit = peak / flops
    return {
        "status": "measured",
        "preset": case.preset, "overrides": list(case.overrides), "batch_size": cfg.train.batch_size,
        "iterations_per_round": iterations, "rounds": rounds,
        "flops_per_image": flops,  # per image pair (x, x_b) for an unpaired case
        "images_per_s": {k: round(v, 1) for k, v in per_s.items()},
        "best_seconds": {k: round(min(v), 2) for k, v in times.items()},
        "hardware_limit_images_per_s": round(limit, 1),
        "fraction_of_limit": {k: round(v / limit, 3) for k, v in per_s.items()},
        "speedup": {k: round(per_s["latentlab"] / per_s[k], 2) for k in datasets},
        # each switch's images/s over the plain fp32 trainer's, both best of the same interleaved rounds
        "ratio_to_fp32": {k: round(per_s[k] / per_s["latentlab"], 3) for k in ours if k != "latentlab"},
        "warmup_steps": case.warmup,
        "warmup_seconds": warmup_s,  # the first warmup steps; with compile, the compilation
        "all_seconds": times,
    }


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"platform": platform.platform(), "cpu": cpu or platform.processor(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run(out_dir: Path, *, iterations: int = 300, rounds: int = 3, data_dir=None, only: list[str] | None = None,
        compile: bool = True, quiet: bool = False) -> dict:
    """Benchmark every case (or `only` those) and write bench/results/<case>.json."""
    from latentlab.data.handoff import prepare

    unknown = [name for name in only or () if name not in {case.name for case in CASES}]
    if unknown:
        raise UserError(f"--only {unknown[0]} is not accepted: one of {', '.join(case.name for case in CASES)}")
    if iterations < 1 or rounds < 1:
        raise UserError(f"bench needs iterations >= 1 and rounds >= 1, got {iterations} and {rounds}")

    peak = matmul_flops_per_s()
    results = {}
    for case in CASES:
        if only and case.name not in only:
            continue
        if case.needs and case.needs not in MODELS:
            results[case.name] = {"status": "pending", "why": f"model '{case.needs}' does not exist yet"}
        else:
            cfg = case_config(case)
            x = synthetic_domains() if case.unpaired else prepare(cfg, data_dir, "cpu").train_x
            results[case.name] = run_case(case, x, cfg, iterations, rounds, peak, compile)
        record = {"benchmark": case.name, "matmul_flops_per_s": peak, "machine": machine(), **results[case.name]}
        atomic_write(out_dir / f"{case.name}.json", json.dumps(record, indent=2) + "\n")
        if not quiet:
            print(summary_line(case.name, results[case.name]), flush=True)
    return results


def summary_line(name: str, r: dict) -> str:
    if r["status"] != "measured":
        return f"{name:10s} pending: {r['why']}"
    ips, frac = r["images_per_s"], r["fraction_of_limit"]
    ours = "   ".join(f"{k} {ips[k]:8.0f} img/s ({frac[k]:.0%} of limit)" for k in ips if k.startswith("latentlab"))
    refs = "   ".join(f"{k} {ips[k]:8.0f} img/s ({frac[k]:.0%}, latentlab {r['speedup'][k]:.2f}x)" for k in r["speedup"])
    return f"{name:10s} {r['flops_per_image'] / 1e9:.3f} GFLOP/image   {ours}   {refs}"
