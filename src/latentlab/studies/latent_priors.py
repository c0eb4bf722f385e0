"""latent-priors: what a prior fitted post hoc on a trained model's codes buys over the N(0, I) it was trained
with (docs/protocols.md, section G).

Parents, on MNIST and on Fashion-MNIST: the CS236 VAE (cs236_vae: v1 MLPs, z = 10, Bernoulli decoder on
dynamically binarized images), a plain autoencoder with the same networks (model.name = "ae"), and the same VAE
with z = 2. On each parent, the three priors of `latentlab prior` (a full-covariance Gaussian mixture, the
two-stage VAE, the latent DDPM), each a prior run made by the same code as that command (studies.base:
Study.prior), scored by its latent_prior protocol: energy distance and MMD² to the test codes, the test ELBO and
IWAE-10 with the prior in place of N(0, I) where it has a density, and the feature classifier's FID, IS,
precision and recall of decoded draws, each beside the parent's N(0, I). On the CPU the runs train in one
single-thread process per core (studies.run_parallel).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from latentlab.checks import Check
from latentlab.data.handoff import prepare
from latentlab.reporting.study import Section, Table
from latentlab.run import Run
from latentlab.studies import gan_mnist, parallel_workers, run_parallel
from latentlab.studies.base import Study, study
from latentlab.viz import adversarial as grids
from latentlab.viz.latent_priors import prior_planes


@dataclass(frozen=True)
class Budget:
    """The parents' iterations; overrides of each prior kind (`latentlab prior --set`); the latent_prior
    protocol's classifier (eval.classifier) and test images scored (eval.n_test, 0: all); the datasets; the
    codes and draws of each prior in the z = 2 plane."""

    parent_iterations: int
    priors: dict[str, tuple[str, ...]]
    classifier: str = "standard"
    n_test: int = 0
    datasets: tuple[str, ...] = ("mnist", "fashion_mnist")
    n_plane: int = 2_000


QUICK_PRIORS = {"gmm": ("model.components=3", "train.batch_size=5000"),  # EM on 5,000 codes, not all
                "two-stage": ("train.iterations=20", "model.hidden=32", "train.batch_size=64"),
                "diffusion": ("train.iterations=20", "model.hidden=32", "train.batch_size=64", "model.timesteps=50",
                              "model.sampler=ddim", "model.ddim_steps=10")}
BUDGETS = {
    "quick": Budget(30, QUICK_PRIORS, classifier="quick", n_test=300, n_plane=300),
    # the parents as cs236_vae trains (20,000 iterations); the priors as `latentlab prior` fits them, the latent
    # DDPM sampled by DDIM-50 (η = 1): ancestral sampling of 15,000 codes through 1,000 steps takes minutes per run here
    "standard": Budget(20_000, {"gmm": (), "two-stage": (), "diffusion": ("model.sampler=ddim",)}),
    "full": Budget(20_000, {"gmm": (), "two-stage": ("train.iterations=10000",),
                            "diffusion": ("train.iterations=50000", "model.sampler=ancestral")}),
}
PARENTS = {  # key -> (label, overrides of cs236_vae)
    "vae": ("VAE, z = 10 (cs236_vae)", []),
    "ae": ("AE, z = 10 (the same networks)", ["model.name=ae"]),
    "vae_z2": ("VAE, z = 2", ["model.z_dim=2"]),
}
PRIORS = {"normal": "N(0, I)", "gmm": "Gaussian mixture", "two-stage": "two-stage VAE", "diffusion": "latent DDPM"}
DATASETS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


@study("latent-priors", BUDGETS)
def run(s: Study, b: Budget) -> Path:
    """Train the parents, fit the three priors on each, tabulate and draw them; returns the report's path."""
    workers = parallel_workers(s.device, s.threads, 2 * len(PARENTS))
    parents, priors = train_all(s, b, workers)
    sections, scores, checks = [], {}, []
    for data in b.datasets:
        section, scores[data] = dataset_section(s, b, data, parents, priors)
        sections.append(section)
        checks += section.checks
    summary = {"scores": scores, "checks": checks, "torch_threads": s.threads, "workers": workers,
               "runs": {k: str(r.path) for k, r in {**parents, **priors}.items()}}
    return s.finish(summary, title="Post-hoc latent priors: a mixture, a two-stage VAE and a latent DDPM on the codes",
                    sections=sections, intro=__doc__.split("\n\n", 1)[1].replace("\n", " "))


def parent_config(data: str, parent: str, b: Budget) -> tuple[str, list[str]]:
    """(preset, overrides) of a parent: cs236_vae on `data`, scored by that dataset's samples protocol. The MNIST
    VAE is gan-mnist's VAE of the same iterations and classifier (copy that run to reuse it)."""
    preset, overrides, _ = gan_mnist.run_config("vae", gan_mnist.Budget(0, 0, b.parent_iterations, b.classifier,
                                                                        b.n_test))
    if data != "mnist":
        overrides = [o.replace("samples_mnist", "samples_fashion") for o in overrides] + [f'data.name="{data}"']
    return preset, [*overrides, *PARENTS[parent][1]]


def train_all(s: Study, b: Budget, workers: int) -> tuple[dict[str, Run], dict[str, Run]]:
    """The parents (trained, not evaluated: their priors' runs score N(0, I)), then every prior run on each."""
    bars = not s.quiet and workers == 1
    jobs = {f"{data}-{parent}": (partial(s.run, quiet=not bars, evaluate=False),
                                 (f"{data}-{parent}", *parent_config(data, parent, b)))
            for data in b.datasets for parent in PARENTS}
    s.log(f"training {len(jobs)} parents in {workers} process(es) of {s.threads} thread(s)")
    parents = run_parallel(jobs, workers=workers, threads=s.threads)
    jobs = {f"{key}-{kind}": (partial(s.prior, quiet=not bars), (f"{key}-{kind}", parent, kind, prior_overrides(b, kind)))
            for kind in ("diffusion", "two-stage", "gmm") for key, parent in parents.items()}  # the costliest first
    s.log(f"fitting {len(jobs)} priors in {workers} process(es) of {s.threads} thread(s)")
    return parents, run_parallel(jobs, workers=workers, threads=s.threads)


def prior_overrides(b: Budget, kind: str) -> list[str]:
    """`latentlab prior --set` of a prior run: the budget's, and the figures and the explorer with its "draw from
    this prior" button (the parents, scored as gan-mnist scores, draw none)."""
    return [*b.priors[kind], "eval.figures=true"]


def row_scores(prior: Run, section: str) -> dict:
    """A prior run's measures of `section` ("prior" or "normal"), with its fit and sampling seconds under "seconds"
    (N(0, I)'s are filled in by the caller)."""
    results = prior.results
    q, times = dict(results["sections"][section]), results["sections"]["times"]
    n = results["protocol"]["n_codes"]
    if section == "prior":
        kind = results["protocol"]["kind"]
        q["seconds"] = {"fit_s": times["fit_s"] if kind == "gmm" else results["elapsed"]["train_s"],
                        "sample_s_per_1000": 1000 * (times["sample_z_s"] + times["decode_s"]) / n}
    return q


def normal_seconds(parent: Run, n: int = 1_000) -> float:
    """Seconds per 1,000 of z ~ N(0, I) decoded to E[x|z] by the parent, one thread of this machine."""
    model = parent.load_model("cpu")
    t0 = time.perf_counter()
    with torch.no_grad():
        model.decode(model.sample_z(n, torch.Generator().manual_seed(0)))
    return 1000 * (time.perf_counter() - t0) / n


def dataset_section(s: Study, b: Budget, data: str, parents: dict, priors: dict) -> tuple[Section, dict]:
    """The table of one dataset, its checks, the z = 2 planes and the decoded draws."""
    scores, rows = {}, []
    for parent, (label, _) in PARENTS.items():
        key = f"{data}-{parent}"
        for kind in PRIORS:
            run = priors[f"{key}-{'gmm' if kind == 'normal' else kind}"]
            q = row_scores(run, "normal" if kind == "normal" else "prior")
            if kind == "normal":
                q["seconds"] = {"fit_s": 0.0, "sample_s_per_1000": normal_seconds(parents[key])}
            scores[f"{parent}.{kind}"] = q
            rows.append([label, PRIORS[kind], *[{**q, **q["seconds"]}.get(k, "–") for k in COLUMNS]])
    n = priors[f"{data}-vae-gmm"].results["protocol"]
    table = Table(["parent", "prior", *COLUMNS.values()], rows)
    text = (f"{DATA_TEXT} Latent distances on {n['n_codes']:,} test codes; FID, IS, precision and recall on "
            f"{n.get('n_samples', 0):,} decoded draws against as many test images "
            f"(classifier {n.get('classifier', {}).get('name', '–')}). Parents: cs236_vae for {b.parent_iterations:,} "
            "iterations. Fit seconds: the mixture's EM; the training time of the other two. Sampling seconds: z ~ "
            "prior and its decoding, per 1,000, one thread.")
    checks = study_checks(DATASETS[data], scores, mnist=data == "mnist")
    figures = [plane_figure(s, b, data, priors), draws_figure(s, data, priors)]
    return Section(f"{DATASETS[data]}", text, [table], figures, checks), scores


COLUMNS = {"energy": "energy distance ↓", "mmd2": "MMD² ↓", "elbo": "test ELBO ↑", "iwae_10": "IWAE-10 ↑",
           "fid_means": "FID ↓", "is_means": "IS ↑", "precision_means": "precision ↑", "recall_means": "recall ↑",
           "fid": "FID of x ~ p(x|z) ↓", "fit_s": "fit s", "sample_s_per_1000": "sampling s per 1,000"}
DATA_TEXT = ("Every row decodes its draws z to the decoder means E[x|z] (grey images in [0, 1]); the FID, IS, precision "
             "and recall columns score those. The Bernoulli decoder's draws x ~ p(x|z) are binary images far from the "
             "grey test images whatever z they come from: their FID is the column before last. The ELBO and IWAE-10 "
             "(nats) need a prior with a density and a q(z|x) with one: the latent DDPM and the AE have none (–).")


def study_checks(data: str, q: dict, *, mnist: bool) -> list[Check]:
    """The issue's findings: each prior closer to the CS236 VAE's test codes than N(0, I); the mixture tightens its
    test ELBO; on MNIST the latent DDPM's FID below N(0, I)'s, and the AE with a mixture below the VAE with N(0, I)."""
    normal = q["vae.normal"]
    checks = [Check(f"{data}, CS236 VAE: the {PRIORS[k]}'s energy distance to the test codes below N(0, I)'s "
                    f"({normal['energy']:.4f})", q[f"vae.{k}"]["energy"] < normal["energy"], q[f"vae.{k}"]["energy"])
              for k in ("gmm", "two-stage", "diffusion")]
    checks.append(Check(f"{data}, CS236 VAE: the mixture tightens the test ELBO (N(0, I): {normal['elbo']:.2f} nats)",
                        q["vae.gmm"]["elbo"] > normal["elbo"], q["vae.gmm"]["elbo"]))
    if mnist and "fid_means" in normal:
        checks += [Check(f"{data}: the latent DDPM's FID on the CS236 VAE below N(0, I)'s ({normal['fid_means']:.2f})",
                         q["vae.diffusion"]["fid_means"] < normal["fid_means"], q["vae.diffusion"]["fid_means"]),
                   Check(f"{data}: the AE with a mixture prior has a lower FID than the VAE with N(0, I) "
                         f"({normal['fid_means']:.2f})", q["ae.gmm"]["fid_means"] < normal["fid_means"],
                         q["ae.gmm"]["fid_means"])]
    return checks


@torch.no_grad()
def plane_figure(s: Study, b: Budget, data: str, priors: dict) -> tuple[str, Path]:
    """The z = 2 VAE's test codes (one draw z ~ q(z|x) each, as the priors were fitted on), coloured by label, with
    b.n_plane draws of N(0, I) and of each prior over them."""
    runs = {kind: priors[f"{data}-vae_z2-{kind}"] for kind in ("gmm", "two-stage", "diffusion")}
    model = runs["gmm"].load_model("cpu")
    test = prepare(runs["gmm"].config, s.data_dir, "cpu")
    n = min(b.n_plane, len(test.test_x))
    torch.manual_seed(0)
    codes = model.encode_draw(test.view(test.test_x[:n]))
    g = torch.Generator().manual_seed(1)
    draws = [(PRIORS["normal"], model.parent.sample_z(n, g))]
    draws += [(PRIORS[k], run.load_model("cpu").sample_z(n, torch.Generator().manual_seed(1))) for k, run in runs.items()]
    path = prior_planes(codes, test.test_y[:n], draws, s.out / f"plane_{data}.png",
                        title=f"{DATASETS[data]}, VAE z = 2: {n:,} test codes and {n:,} draws of each prior")
    return (f"{DATASETS[data]}, the z = 2 VAE: its test codes (one z ~ q(z|x) each, coloured by label) and the draws "
            "of each prior (black). N(0, I) puts mass where no code lies: the decoded draws from there are the poor "
            "samples; a fitted prior follows the codes."), path


@torch.no_grad()
def draws_figure(s: Study, data: str, priors: dict) -> tuple[str, Path]:
    """64 decoder means E[x|z] of each parent under each prior (no selection), from the same seed."""
    panels = []
    for parent, (label, _) in PARENTS.items():
        for kind in PRIORS:
            model = priors[f"{data}-{parent}-{'gmm' if kind == 'normal' else kind}"].load_model("cpu")
            sampler = model.parent if kind == "normal" else model
            z = sampler.sample_z(64, torch.Generator().manual_seed(0))
            panels.append((f"{label}: {PRIORS[kind]}", model.decode(z).clamp(0, 1)))
    path = grids.image_panels(panels, s.out / f"draws_{data}.png", nrow=8, ncols=len(PRIORS))
    return (f"{DATASETS[data]}: 64 decoded draws E[x|z] of each parent (rows) under each prior (columns), no "
            "selection"), path
