"""gan-mnist: five GAN objectives on MNIST with the same generator, and the VAE's samples beside
them, scored without Inception weights (docs/protocols.md, section D).

Every model is trained with `latentlab train` (presets gan_mnist, wgan_clip_mnist, wgan_gp_mnist;
cs236_vae for the VAE), whose evaluation (eval.protocol = "samples_mnist") scores 10,000 samples of
each with a classifier trained here with a fixed seed (evaluation/classifier_metrics.py): the Fréchet distance of its penultimate features to
the test set, precision and recall on the same features (k = 3), its Inception score and the class
frequencies. The floor is a 10,000-image training sample scored the same way. The Wasserstein
objectives take five critic steps per generator step, so they get a fifth of the generator
iterations: every objective gets about the same compute. All share the generator (InfoGAN's MNIST
nets at half width); the critic has batch norm for the log and squared losses and none for the
Wasserstein ones. On the CPU the six trainings run in one single-thread process per core
(studies.run_parallel).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from latentlab.checks import Check
from latentlab.data.handoff import prepare
from latentlab.evaluation import classifier_metrics as cm
from latentlab.registry import load_config
from latentlab.reporting.study import Section, Table
from latentlab.run import Run
from latentlab.run.metrics import read_metrics
from latentlab.studies import parallel_workers, run_parallel
from latentlab.studies.base import Study, study
from latentlab.viz import adversarial as fig
from latentlab.viz.figures import loss_curves


@dataclass(frozen=True)
class Budget:
    """Generator iterations of the one-critic-step objectives, of the five-step ones and of the VAE; the
    samples_mnist protocol's classifier (eval.classifier) and test images scored (eval.n_test, 0: all)."""

    iterations: int
    wgan_iterations: int
    vae_iterations: int
    classifier: str = "standard"
    n_test: int = 0


BUDGETS = {
    "quick": Budget(10, 2, 20, classifier="quick", n_test=300),
    "standard": Budget(5000, 1000, 10_000),
    "full": Budget(20_000, 5_000, 20_000),
}
OBJECTIVES = {  # name -> (preset, overrides)
    "minimax": ("gan_mnist", ["model.loss=minimax"]),
    "nonsaturating": ("gan_mnist", []),
    "least_squares": ("gan_mnist", ["model.loss=least_squares"]),
    "wgan_clip": ("wgan_clip_mnist", []),
    "wgan_gp": ("wgan_gp_mnist", []),
}
VAE = ("cs236_vae", ['eval.reference=""'])
IS_TARGET = 8.5
LABELS = {"vae.samples": "VAE: x ~ p(x|z) (Bernoulli draws)", "vae.decoder_means": "VAE: E[x|z]"}


@study("gan-mnist", BUDGETS)
def run(s: Study, b: Budget) -> Path:
    """Train the five objectives and the VAE, each scored by its samples_mnist protocol; returns the report's path."""
    data = prepare(load_config("gan_mnist")[0], s.data_dir, "cpu")  # MNIST as the presets see it
    t0 = time.perf_counter()  # the classifier once, before the runs: each run's protocol reads it from the cache
    _, record = cm.feature_classifier(data, cm.RECIPES[b.classifier])
    classifier_s = time.perf_counter() - t0
    workers = parallel_workers(s.device, s.threads, len(OBJECTIVES) + 1)
    trained, iterations = train_all(s, b, workers)

    scores, freqs, grids, rows, checks = {}, {}, [], [], {}
    for name, run in trained.items():
        its, train_s, results = iterations[name], read_metrics(run.metrics_path)[-1]["time"], run.results
        checks.update({c["name"]: Check.from_dict(c) for c in results["checks"]})  # one classifier: one check
        samples = cm.model_samples(s.model(run), 100, seed=0)
        for kind, q in results["sections"].items():
            if kind == "floor":
                continue
            key = name if name != "vae" else f"vae.{kind}"
            freqs[LABELS.get(key, key)] = results["class_freq"][kind]
            scores[key] = {**q, "train_s": round(train_s, 1), "iterations": its}
            grids.append((LABELS.get(key, key), samples[kind].cpu()))
            rows.append([LABELS.get(key, key), q["fid"], f"{q['is']:.2f} ± {q['is_sd']:.2f}", q["precision"],
                         q["recall"], q["class_tv"], q["min_class_freq"], its, round(train_s)])
    results = trained["vae"].results  # every run scores the same floor: one classifier, seed and n
    floor, n = results["sections"]["floor"], results["protocol"]["n_samples"]
    freqs["real (training images)"] = results["class_freq"]["floor"]
    scores["floor"] = floor
    rows.append(["real: training images (the floor)", floor["fid"], f"{floor['is']:.2f} ± {floor['is_sd']:.2f}",
                 floor["precision"], floor["recall"], floor["class_tv"], floor["min_class_freq"], "-", "-"])
    grids.append(("real: training images", data.train_x[:100]))
    checks = [*checks.values(), *study_checks(scores)]
    section = Section("Sample quality", _text(b, record, classifier_s, n, workers, s.threads),
                      [Table(["model", "FID ↓", "IS ↑ (± sd over 10 splits)", "precision ↑", "recall ↑",
                              "class TV ↓", "min class share", "iterations", "train s"], rows)],
                      _figures(s, trained, grids, freqs), checks)
    summary = {"classifier": record, "classifier_s": round(classifier_s, 1), "scores": scores, "class_freq": freqs,
               "checks": checks, "torch_threads": s.threads, "workers": workers}
    return s.finish(summary, title="GAN objectives on MNIST, scored by a classifier of our own", sections=[section],
                    intro=__doc__.split("\n\n", 1)[1].replace("\n", " "))


def train_all(s: Study, b: Budget, workers: int) -> tuple[dict[str, Run], dict[str, int]]:
    """Every model trained (or reused) and scored by its samples_mnist protocol, in `workers` processes."""
    bars = not s.quiet and workers == 1  # progress bars of parallel workers would overwrite each other
    train = partial(s.run, quiet=not bars)  # a bound method of a dataclass: it pickles
    jobs, iterations = {}, {}  # the costliest first, so that the workers finish together
    for name in ("wgan_gp", "least_squares", "nonsaturating", "minimax", "wgan_clip", "vae"):
        preset, overrides, iterations[name] = run_config(name, b)
        jobs[name] = (train, (name, preset, overrides))
    s.log(f"training {len(jobs)} models in {workers} process(es) of {s.threads} thread(s)")
    trained = run_parallel(jobs, workers=workers, threads=s.threads)
    return {name: trained[name] for name in [*OBJECTIVES, "vae"]}, iterations


def scoring(classifier: str, n_test: int) -> list[str]:
    """The overrides that score a run by its samples_mnist protocol (eval.classifier, eval.n_test), no figures."""
    return ['eval.protocol="samples_mnist"', f'eval.classifier="{classifier}"', f"eval.n_test={n_test}",
            "eval.figures=false"]


def run_config(name: str, b: Budget) -> tuple[str, list[str], int]:
    """(preset, overrides, generator iterations) of the study's run `name` (an objective or "vae"): other studies
    that train the same run with the same budget fields reuse it."""
    preset, overrides = OBJECTIVES.get(name, VAE)
    its = b.vae_iterations if name == "vae" else b.wgan_iterations if name.startswith("wgan") else b.iterations
    return preset, [*overrides, *scoring(b.classifier, b.n_test), f"train.iterations={its}",
                    f"train.checkpoint_every={its}"], its


def study_checks(scores: dict[str, dict]) -> list[Check]:
    """The study's own checks, beside the runs': the best objective's IS, and an FID for every objective."""
    gan_is = {k: scores[k]["is"] for k in OBJECTIVES}
    best = max(gan_is, key=gan_is.get)
    return [Check(f"at least one objective reaches a classifier IS ≥ {IS_TARGET} (best: {best})",
                  gan_is[best] >= IS_TARGET, gan_is[best]),
            Check("the classifier-feature FID is reported for all five objectives",
                  all(k in scores for k in OBJECTIVES), len([k for k in OBJECTIVES if k in scores]))]


def _figures(s: Study, trained: dict[str, Run], grids: list, freqs: dict) -> list[tuple[str, Path]]:
    figures = [("100 samples of each model (no selection) and 100 training images",
                fig.image_panels(grids, s.out / "samples.png", ncols=4)),
               ("the classifier's class frequencies of the samples (dotted: 1/10)",
                fig.class_frequencies(freqs, s.out / "class_frequencies.png"))]
    for name, run in trained.items():
        records = read_metrics(run.metrics_path)
        if records:
            figures.append((f"{name}: training curves", loss_curves(records, s.out / f"curves_{name}.png")))
    return figures


def _text(b: Budget, record: dict, classifier_s: float, n: int, workers: int, threads: int) -> str:
    return (f"{n:,} samples per model against {n:,} test images (each run's samples_mnist protocol). Classifier "
            f"{record['name']}: test accuracy {record['test_accuracy']:.2f} %, SHA-256 {record['sha256']}, "
            f"{'found in the cache' if record['cached'] else f'trained in {classifier_s:.0f} s'} "
            f"({record['path']}). FID uses its 128 penultimate ReLU features, IS its softmax (10 splits); precision "
            "and recall (k = 3) are the shares of samples inside the test images' k-NN manifold of the same features "
            "and of test images inside the samples' one; "
            "class TV is the total variation between the sample's class frequencies and the test labels'. "
            f"GANs: {b.iterations} generator iterations for minimax, non-saturating and least squares "
            f"(one critic step each), {b.wgan_iterations} for the Wasserstein objectives (five critic steps each); "
            f"VAE: cs236_vae for {b.vae_iterations} iterations. Trained in {workers} process(es) of {threads} "
            "torch thread(s) each.")
