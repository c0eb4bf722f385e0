"""What the diffusion-mnist study measures by sampling trained models, one function per measurement.

Each runs in a worker process (studies.run_parallel, one thread): it loads the run's model and the
feature classifier from the cache, samples, times the sampling (seconds of one thread per 1,000
images) and scores the samples with `classifier_metrics.sample_quality` against the same test
images. It returns numbers and the few images the figures show. Every sampler starts from the
same x_T (one seed), so the rows of a sweep differ only by the sampler.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from latentlab.data.handoff import prepare
from latentlab.evaluation import classifier_metrics as cm
from latentlab.files import atomic_path, make_dir
from latentlab.registry import load_config
from latentlab.run import Run

CHUNK = 1_000  # images sampled per call: bounds the memory of a 10,000-image draw


@dataclass(frozen=True)
class Kept:
    """Measurements kept in `folder`, one file each, so a rerun redraws the page without sampling again. A kept
    one is used only while its job's arguments and the checkpoints of the measured runs are those it was made of."""

    folder: Path
    runs: dict

    def _stamp(self, args: tuple) -> dict:
        return {"args": repr(args), **{key: list(run.checkpoints()) for key, run in self.runs.items()}}

    def read(self, jobs: dict) -> dict:
        """The kept results of `jobs`, which are removed from it (the "ddpm" job, a run's scoring, is never kept)."""
        got = {}
        for key in [k for k in jobs if k != "ddpm"]:
            try:
                kept = torch.load(self.folder / f"{key}.pt", weights_only=True)
            except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
                continue
            if kept.get("stamp") == self._stamp(jobs[key][1]):
                got[key] = kept["result"]
                del jobs[key]
        return got

    def writer(self, jobs: dict):
        """done(key, result) for run_parallel: keeps each result with its job's stamp (`jobs` as given to it)."""
        stamps = {key: self._stamp(args) for key, (_, args) in jobs.items() if key != "ddpm"}

        def write(key: str, result) -> None:
            if key in stamps:
                make_dir(self.folder)
                with atomic_path(self.folder / f"{key}.pt") as tmp:
                    torch.save({"stamp": stamps[key], "result": result}, tmp)

        return write


@dataclass(frozen=True)
class Scoring:
    """Where the data is, the feature classifier's recipe (eval.classifier) and the test images scored
    (the first n_test; 0: all)."""

    data_dir: str | None
    classifier: str
    n_test: int
    seed: int = 0

    def scorer(self) -> tuple[torch.nn.Module, Tensor, Tensor]:
        """(the cached feature classifier, test images, test labels)."""
        data = prepare(load_config("ddpm_mnist")[0], self.data_dir, "cpu")
        classifier, _ = cm.feature_classifier(data, cm.RECIPES[self.classifier])
        n = self.n_test or len(data.test_x)
        return classifier, data.test_x[:n], data.test_y[:n]


@torch.no_grad()
def timed_samples(model, n: int, seed: int, **labels) -> tuple[Tensor, float]:
    """n samples in chunks of CHUNK from one seeded generator, and the seconds it took."""
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    if labels:
        y = labels.pop("y")
        x = torch.cat([model.sample(len(yb), generator=g, y=yb, **labels) for yb in y.split(CHUNK)])
    else:
        x = torch.cat([model.sample(min(CHUNK, n - i), generator=g) for i in range(0, n, CHUNK)])
    return x.clamp(0, 1), time.perf_counter() - t0


def _scored(x: Tensor, seconds: float, scorer, seed: int, **row) -> dict:
    classifier, test_x, test_y = scorer
    q = cm.sample_quality(classifier, x, test_x, test_y, seed=seed)
    return {**row, "n": len(x), **q, "s_per_1000": round(1000 * seconds / len(x), 2)}


def with_sampler(model, sampler: str, steps: int = 50, spacing: str = "uniform", eta: float = 0.0):
    """The model set to sample by `sampler` ("ddim": `steps` network calls, `spacing`, η; "ancestral": T calls)."""
    model.config = replace(model.config, sampler=sampler, ddim_steps=steps, ddim_eta=eta, ddim_spacing=spacing)
    return model


def sampler_sweep(run_path: str, scoring: Scoring, steps: tuple[int, ...], spacings: tuple[str, ...], n: int,
                  n_ancestral: int) -> dict:
    """Quality and time against sampling steps: DDIM (η = 0) at each step count and spacing on n images;
    ancestral sampling (T steps) and DDIM-50 again on the first n_ancestral of the same x_T.
    Returns {"rows": [...], "grids": {label: 100 samples}}."""
    torch.set_num_threads(1)
    model, scorer = Run.open(run_path).load_model("cpu"), scoring.scorer()
    rows, grids = [], {}
    for spacing in spacings:
        for k in steps:
            x, sec = timed_samples(with_sampler(model, "ddim", k, spacing), n, scoring.seed)
            rows.append(_scored(x, sec, scorer, scoring.seed, sampler="ddim", spacing=spacing, eta=0.0, steps=k))
            if spacing == "uniform" and k in (10, 50):
                grids[f"DDIM, {k} steps"] = x[:100]
    x, sec = timed_samples(with_sampler(model, "ancestral"), n_ancestral, scoring.seed)
    rows.append(_scored(x, sec, scorer, scoring.seed, sampler="ancestral", spacing="all", eta=1.0,
                        steps=model.num_timesteps))
    grids[f"ancestral, {model.num_timesteps} steps"] = x[:100]
    x, sec = timed_samples(with_sampler(model, "ddim", 50), n_ancestral, scoring.seed)
    rows.append(_scored(x, sec, scorer, scoring.seed, sampler="ddim", spacing="uniform", eta=0.0, steps=50,
                        paired=True))
    return {"rows": rows, "grids": grids}


def eta_sweep(run_path: str, scoring: Scoring, steps: tuple[int, ...], eta: float, n: int) -> dict:
    """DDIM with η > 0 at each step count, uniform spacing, on the n images (x_T) of `sampler_sweep`: a stochastic
    sampler (η = 1: the ancestral posterior's variance on the sub-sequence, Song et al. 2021, eq. 16) draws fresh
    noise at every step, which washes out part of an imperfect ε̂'s error that DDIM with η = 0 carries along."""
    torch.set_num_threads(1)
    model, scorer = Run.open(run_path).load_model("cpu"), scoring.scorer()
    rows, grids = [], {}
    for k in steps:
        x, sec = timed_samples(with_sampler(model, "ddim", k, eta=eta), n, scoring.seed)
        rows.append(_scored(x, sec, scorer, scoring.seed, sampler="ddim", spacing="uniform", eta=eta, steps=k))
        if k == 50:
            grids[f"DDIM η = {eta:g}, {k} steps"] = x[:100]
    return {"rows": rows, "grids": grids}


def guidance_sweep(run_path: str, scoring: Scoring, ws: tuple[float, ...], per_class: int, steps: int,
                   eta: float) -> dict:
    """Classifier-free guidance at each scale w, sampled by DDIM (`steps`, η): per_class samples of every digit,
    the share the feature classifier assigns to the digit they were drawn for, and their quality against the
    test set (the diversity cost of a larger w). Returns {"rows": [...], "grids": {w: (10, 8, 1, 28, 28)}}."""
    torch.set_num_threads(1)
    model, scorer = with_sampler(Run.open(run_path).load_model("cpu"), "ddim", steps, eta=eta), scoring.scorer()
    classifier = scorer[0]
    y = torch.arange(model.n_classes).repeat_interleave(per_class)
    rows, grids = [], {}
    for w in ws:
        x, sec = timed_samples(model, len(y), scoring.seed, y=y, w=w)
        with torch.no_grad():
            hit = torch.cat([classifier(xb).argmax(-1) for xb in x.split(CHUNK)]) == y
        rows.append(_scored(x, sec, scorer, scoring.seed, w=w, accuracy=round(100 * float(hit.float().mean()), 2)))
        grids[w] = x.view(model.n_classes, per_class, *x.shape[1:])[:, :8]
    return {"rows": rows, "grids": grids}


def training_curve(run_path: str, scoring: Scoring, n: int) -> list[dict]:
    """FID, IS, precision and recall of n DDIM-50 samples of the weights (EMA where kept) at every checkpoint."""
    torch.set_num_threads(1)
    run, scorer = Run.open(run_path), scoring.scorer()
    rows = []
    for step, checkpoint in run.checkpoints().items():
        model = with_sampler(run.load_model("cpu", checkpoint=checkpoint), "ddim", 50)
        x, sec = timed_samples(model, n, scoring.seed)
        rows.append(_scored(x, sec, scorer, scoring.seed, step=step))
    return rows


def sampling_seconds(run_path: str, n: int, seed: int = 0) -> float:
    """Seconds of one thread per 1,000 samples of a run's model (x ~ p(x), as its protocol draws them)."""
    torch.set_num_threads(1)
    model = Run.open(run_path).load_model("cpu")
    t0 = time.perf_counter()
    cm.model_samples(model, n, seed)
    return round(1000 * (time.perf_counter() - t0) / n, 3)


@torch.no_grad()
def forward_and_reverse(model, x0: Tensor, ts: tuple[int, ...], n_paths: int, frames: int, seed: int = 0) -> dict:
    """x_t ~ q(x_t | x_0) of the images x0 at the steps ts (one ε per image), and the DDIM-50 path of n_paths
    samples at `frames` evenly spaced points from x_T to x_0; both as pixels clamped to [0, 1] for display."""
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(x0.shape, generator=g)
    t = torch.tensor(ts)
    x_t = torch.stack([model.q_sample(model.to_model(x0), t[k].expand(len(x0)), eps) for k in range(len(ts))], 1)
    path = with_sampler(model, "ddim", 50).sample_trajectory(n_paths, generator=g)
    pick = torch.linspace(0, len(path) - 1, frames).round().long()
    return {"forward": model.to_data(x_t).clamp(0, 1), "reverse": model.to_data(path[pick]).clamp(0, 1).transpose(0, 1)}
