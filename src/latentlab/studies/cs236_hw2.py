"""CS236 (Stanford, Fall 2021) homework 2 as one study (docs/protocols.md, section A).

Trains, through `latentlab.api.train`, the VAE, the GMVAE, the semi-supervised VAE (M2) with
gw = 0 and gw = 1, the conditional VAE (FSVAE) on MNIST and Fashion-MNIST (SVHN is the
protocol's data set: `svhn_cvae` trains it where the files are), and the β-VAE sweep
β ∈ {0.25, 0.5, 1, 2, 4}; then writes one report.html: every table beside the published
numbers, the acceptance checks, both 10×20 sample grids and the conditional grids.

Running it again with the same --out reuses the finished runs and resumes an interrupted one.

Budgets: full = the protocol exactly (the presets as they are, one seed: 2-6 times the
iterations of standard, and the full-test evaluation); standard = 10,000 iterations (SSVAE
5,000), two seeds for the models with published numbers (mean ± sd), the subset evaluation
only — measured 54 minutes on a shared 2-core CPU (one thread, other jobs running); quick = a
few iterations (the tests). Under other jobs, OMP_NUM_THREADS=1 was several times faster than 2, so the
study runs with one intra-op thread unless OMP_NUM_THREADS says otherwise (`studies.base.study_threads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latentlab.run import Run
from latentlab.studies import cs236_hw2_report as report
from latentlab.studies.base import Study, study

BETAS = (0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Budget:
    iterations: dict[str, int]  # per experiment group; absent: the preset's (the protocol)
    seeds: tuple[int, ...]  # for the experiments with published numbers (vae, gmvae, ssvae)
    eval_cs236: tuple[str, ...] = ()  # overrides of [eval] for the runs on the CS236 subset
    eval_test: tuple[str, ...] = ()  # overrides of [eval] for the conditional VAEs (full test set)
    train: tuple[str, ...] = ()  # overrides of [train] for every run
    all_figures: bool = True  # False: figures only for the runs whose figures the report shows


BUDGETS = {
    "quick": Budget(
        iterations={"vae": 20, "gmvae": 20, "ssvae": 20, "cvae": 20}, seeds=(0,),
        eval_cs236=("eval.subset_repeats=1", "eval.iwae_k=[1, 10]", "eval.iwae_repeats=[1, 1]",
                    "eval.full_test=false"),
        eval_test=("eval.iwae_k=[1]", "eval.iwae_repeats=[1]"),
        train=("train.log_every=5", "train.checkpoint_every=1000"), all_figures=False,
    ),
    "standard": Budget(
        iterations={"vae": 10_000, "gmvae": 10_000, "ssvae": 5_000, "cvae": 10_000}, seeds=(0, 1),
        eval_cs236=("eval.full_test=false",),  # the subset as in the protocol; no full test set
        eval_test=("eval.iwae_k=[1, 10]", "eval.iwae_repeats=[1, 1]"),
    ),
    "full": Budget(iterations={}, seeds=(0,)),
}


@dataclass(frozen=True)
class Experiment:
    key: str  # run folder and table key
    preset: str
    overrides: tuple[str, ...] = ()
    group: str = ""  # iteration budget key
    seeded: bool = True  # repeated over the budget's seeds
    shown: bool = True  # its figures are in the report


EXPERIMENTS = (
    Experiment("vae", "cs236_vae", group="vae"),
    Experiment("gmvae", "cs236_gmvae", group="gmvae"),
    Experiment("ssvae_gw0", "cs236_ssvae_gw0", group="ssvae", shown=False),
    Experiment("ssvae_gw1", "cs236_ssvae", group="ssvae"),
    Experiment("cvae_mnist", "cs236_cvae_mnist", group="cvae", seeded=False),
    Experiment("cvae_fashion", "cs236_cvae_fashion", group="cvae", seeded=False),
    *(Experiment(f"beta_{b:g}", "cs236_vae", (f"model.beta={b}", "eval.reference=\"\"", "eval.full_test=false"),
                 group="vae", seeded=False, shown=False) for b in BETAS if b != 1.0),  # as long as β = 1
)


@study("cs236-hw2", BUDGETS)
def run(s: Study, b: Budget) -> Path:
    """Train and evaluate every experiment of the homework under the budget; returns report.html."""
    trained: dict[str, list[Run]] = {}
    for exp in EXPERIMENTS:
        for seed in (b.seeds if exp.seeded else b.seeds[:1]):
            name = exp.key if len(b.seeds) == 1 or not exp.seeded else f"{exp.key}-seed{seed}"
            trained.setdefault(exp.key, []).append(s.run(name, exp.preset, overrides(exp, b, seed)))
    trained["beta_1"] = trained["vae"][:1]  # β = 1 is the VAE itself: same config, same seed
    sections = report.sections(trained, BETAS, s.out / "figures", data_dir=s.data_dir, device=s.device)
    summary = report.summary(trained)
    if not s.quiet:
        print(report.summary_lines(summary))
    return s.finish(summary, title="CS236 homework 2: the VAE family on MNIST", sections=sections,
                    intro=report.intro(s.budget, b))


def overrides(exp: Experiment, b: Budget, seed: int) -> list[str]:
    """The overrides of one experiment's preset under budget b."""
    overrides = [*exp.overrides, *b.train, f"train.seed={seed}"]
    if exp.group in b.iterations:
        overrides.append(f"train.iterations={b.iterations[exp.group]}")
    overrides += b.eval_test if exp.group == "cvae" else b.eval_cs236
    if not (b.all_figures or exp.shown):
        overrides.append("eval.figures=false")
    return overrides
