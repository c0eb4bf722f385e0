"""Studies: one module per study. Each trains what it needs through the public API, then
writes its figures, tables, summary.json and one report.html into its output folder.

A study module provides `run(out: Path, budget: str, *, data_dir, device, quiet) -> Path`
(the report's path), written as a body on the shared helper (`studies.base.study`). Budgets:
`quick` runs in seconds (the tests use it), `standard` in minutes on a 2-core CPU (the default),
`full` is the original protocol (may want a GPU).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from types import ModuleType

import torch


def _set_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def run_parallel(jobs: dict[str, tuple[Callable, tuple]], *, workers: int, threads: int,
                 done: Callable[[str, object], None] = lambda name, result: None) -> dict[str, object]:
    """Run independent jobs `name -> (function, args)` in `workers` processes of `threads` intra-op threads each.

    Independent trainings of small networks use a many-core CPU best as one process per core:
    two one-thread trainings on 2 cores take the time of one, where one two-thread training
    gains far less than 2× from its second thread. Jobs start in the order given (put the longest
    first); `done(name, result)` is called in the parent as each finishes. workers = 1 runs them
    here, one after another. Functions and arguments must be picklable (module-level functions).
    """
    if workers <= 1:
        results = {}
        for name, (fn, args) in jobs.items():
            results[name] = fn(*args)
            done(name, results[name])
        return results
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked OpenMP or torch state
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_set_threads, initargs=(threads,)) as pool:
        futures = {pool.submit(fn, *args): name for name, (fn, args) in jobs.items()}
        results = {}
        for future in as_completed(futures):
            name = futures[future]
            results[name] = future.result()  # re-raises a worker's error here
            done(name, results[name])
    return {name: results[name] for name in jobs}


def parallel_workers(device: str | None, threads: int, jobs: int) -> int:
    """Processes for independent trainings: one per `threads` CPU cores on the CPU, one on an accelerator."""
    from latentlab.device import resolve_device

    if resolve_device(device or "auto").type != "cpu":
        return 1
    return max(1, min(jobs, (os.cpu_count() or 1) // threads))


def studies() -> dict[str, ModuleType]:
    """Study name -> module. Explicit imports, no discovery by string."""
    from latentlab.studies import cs236_hw2, elbo_1d, faces, faces_frey, score_2d, vae_2d
    from latentlab.studies import cyclegan, diffusion_mnist, gan_mnist, gan_theory, latent_priors

    return {"cs236-hw2": cs236_hw2, "faces": faces, "faces-frey": faces_frey, "elbo-1d": elbo_1d, "vae-2d": vae_2d,
            "score-2d": score_2d, "gan-theory": gan_theory, "gan-mnist": gan_mnist,
            "cyclegan": cyclegan, "diffusion-mnist": diffusion_mnist,
            "latent-priors": latent_priors}
