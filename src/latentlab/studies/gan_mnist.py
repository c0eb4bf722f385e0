"""gan-mnist: five GAN objectives on MNIST with the same generator, and the VAE's samples beside
them, scored without Inception weights (docs/protocols.md, section D).

Every model is trained with `latentlab train` (presets gan_mnist, wgan_clip_mnist, wgan_gp_mnist;
cs236_vae for the VAE), then 10,000 samples of each are scored by a classifier trained here with a
fixed seed (evaluation/classifier_metrics.py): the Fréchet distance of its penultimate features to
the test set, its Inception score and the class frequencies. The floor is a 10,000-image training
sample scored the same way. The Wasserstein objectives take five critic steps per generator step,
so they get a fifth of the generator iterations: every objective gets about the same compute.
All share the generator (InfoGAN's MNIST nets at half width); the critic has batch norm for the
log and squared losses and none for the Wasserstein ones. On the CPU the six trainings run in
one single-thread process per core (studies.run_parallel).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from latentlab import api
from latentlab.data.datasets import load_images
from latentlab.data.root import data_root
from latentlab.evaluation import classifier_metrics as cm
from latentlab.files import atomic_write
from latentlab.reporting.study import Section, Table, write_study_report
from latentlab.runs import Run
from latentlab.studies import parallel_workers, run_parallel, study_threads
from latentlab.training.logging import read_metrics
from latentlab.viz import adversarial as fig
from latentlab.viz.figures import loss_curves

BUDGETS = {  # iterations of the one-critic-step objectives, of the five-step ones, of the VAE; samples scored
    "quick": dict(recipe=cm.QUICK, iterations=10, wgan_iterations=2, vae_iterations=20, n=300),
    "standard": dict(recipe=cm.STANDARD, iterations=5000, wgan_iterations=1000, vae_iterations=10_000, n=10_000),
    "full": dict(recipe=cm.STANDARD, iterations=20_000, wgan_iterations=5_000, vae_iterations=20_000, n=10_000),
}
OBJECTIVES = {  # name -> (preset, overrides)
    "minimax": ("gan_mnist", ["model.loss=minimax"]),
    "nonsaturating": ("gan_mnist", []),
    "least_squares": ("gan_mnist", ["model.loss=least_squares"]),
    "wgan_clip": ("wgan_clip_mnist", []),
    "wgan_gp": ("wgan_gp_mnist", []),
}
IS_TARGET = 8.5


def _train(name: str, preset: str, overrides: list[str], iterations: int, out: Path, data_dir, device, quiet):
    """One `latentlab train` run (a module-level function: run_parallel sends it to a worker process)."""
    t0 = time.perf_counter()
    run = api.train(preset, overrides=[*overrides, f"train.iterations={iterations}",
                                       f"train.checkpoint_every={iterations}"],
                    out=out / "runs" / name, data_dir=data_dir, device=device, quiet=quiet, evaluate_after=False)
    return run, time.perf_counter() - t0, iterations


def run(out: Path, budget: str, *, data_dir=None, device=None, quiet: bool = False) -> Path:
    with study_threads() as threads:
        return _run(out, budget, data_dir=data_dir, device=device, quiet=quiet, threads=threads)


def _run(out: Path, budget: str, *, data_dir, device, quiet: bool, threads: int) -> Path:
    b = BUDGETS[budget]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    data = load_images("mnist", data_root(data_dir))
    t0 = time.perf_counter()
    classifier, record = cm.feature_classifier(data, b["recipe"])
    classifier_s = time.perf_counter() - t0

    workers = parallel_workers(device, threads, len(OBJECTIVES) + 1)
    bars = not quiet and workers == 1  # progress bars of parallel workers would overwrite each other
    jobs = {}  # the costliest first, so that the workers finish together
    for name in ("wgan_gp", "least_squares", "nonsaturating", "minimax", "wgan_clip"):
        its = b["wgan_iterations"] if name.startswith("wgan") else b["iterations"]
        jobs[name] = (_train, (name, *OBJECTIVES[name], its, out, data_dir, device, not bars))
    jobs["vae"] = (_train, ("vae", "cs236_vae", [], b["vae_iterations"], out, data_dir, device, not bars))

    def finished(name, result):
        if not quiet:
            print(f"gan-mnist: {name} trained, {result[2]} iterations in {result[1]:.0f} s", flush=True)

    if not quiet:
        print(f"gan-mnist: training {len(jobs)} models in {workers} process(es) of {threads} thread(s)", flush=True)
    trained = run_parallel(jobs, workers=workers, threads=threads, done=finished)
    trained = {name: trained[name] for name in [*OBJECTIVES, "vae"]}

    scores, freqs, grids, rows = {}, {}, [], []
    labels = {"vae.samples": "VAE: x ~ p(x|z) (Bernoulli draws)", "vae.decoder_means": "VAE: E[x|z]"}
    for name, (run_dir, train_s, its) in trained.items():
        model = Run.open(run_dir).load_model(device)
        for kind, x in cm.model_samples(model, b["n"], seed=0).items():
            key = name if name != "vae" else f"vae.{kind}"
            q = cm.sample_quality(classifier, x.cpu(), data.test_x, data.test_y)
            freqs[labels.get(key, key)] = q.pop("class_freq")
            scores[key] = {**q, "train_s": round(train_s, 1), "iterations": its}
            grids.append((labels.get(key, key), x[:100].cpu()))
            rows.append([labels.get(key, key), q["fid"], f"{q['is']:.2f} ± {q['is_sd']:.2f}", q["class_tv"],
                         q["min_class_freq"], its, round(train_s)])
    floor = cm.real_floor(classifier, data, b["n"])
    freqs["real (training images)"] = floor.pop("class_freq")
    scores["floor"] = floor
    rows.append(["real: training images (the floor)", floor["fid"], f"{floor['is']:.2f} ± {floor['is_sd']:.2f}",
                 floor["class_tv"], floor["min_class_freq"], "-", "-"])
    grids.append(("real: training images", data.train_x[:100]))

    gan_is = {k: scores[k]["is"] for k in OBJECTIVES}
    best = max(gan_is, key=gan_is.get)
    checks = [
        {"name": f"feature classifier test accuracy ≥ 99 % ({record['name']})",
         "passed": record["test_accuracy"] >= 99.0, "value": record["test_accuracy"]},
        {"name": f"at least one objective reaches a classifier IS ≥ {IS_TARGET} (best: {best})",
         "passed": gan_is[best] >= IS_TARGET, "value": gan_is[best]},
        {"name": "the classifier-feature FID is reported for all five objectives",
         "passed": all(k in scores for k in OBJECTIVES), "value": len([k for k in OBJECTIVES if k in scores])},
    ]
    figures = [("100 samples of each model (no selection) and 100 training images",
                fig.image_panels(grids, out / "samples.png", ncols=4)),
               ("the classifier's class frequencies of the samples (dotted: 1/10)",
                fig.class_frequencies(freqs, out / "class_frequencies.png"))]
    for name, (run_dir, _, _) in trained.items():
        records = read_metrics(run_dir / "metrics.jsonl")
        if records:
            figures.append((f"{name}: training curves", loss_curves(records, out / f"curves_{name}.png")))
    elapsed = time.perf_counter() - t_start
    text = (f"{b['n']:,} samples per model against the {len(data.test_x):,} test images. Classifier {record['name']}: "
            f"test accuracy {record['test_accuracy']:.2f} %, SHA-256 {record['sha256']}, "
            f"{'found in the cache' if record['cached'] else f'trained in {classifier_s:.0f} s'} "
            f"({record['path']}). FID uses its 128 penultimate ReLU features, IS its softmax (10 splits); "
            "class TV is the total variation between the sample's class frequencies and the test labels'. "
            f"GANs: {b['iterations']} generator iterations for minimax, non-saturating and least squares "
            f"(one critic step each), {b['wgan_iterations']} for the Wasserstein objectives (five critic steps each); "
            f"VAE: cs236_vae for {b['vae_iterations']} iterations. Trained in {workers} process(es) of {threads} "
            "torch thread(s) each.")
    section = Section("Sample quality", text,
                      [Table(["model", "FID ↓", "IS ↑ (± sd over 10 splits)", "class TV ↓", "min class share",
                              "iterations", "train s"], rows)], figures, checks)
    results = {"budget": budget, "classifier": record, "classifier_s": round(classifier_s, 1), "scores": scores,
               "class_freq": freqs, "checks": checks, "elapsed_s": round(elapsed, 1), "torch_threads": threads, "workers": workers}
    atomic_write(out / "results.json", json.dumps(results, indent=2))
    return write_study_report(out / "report.html", name="gan-mnist", title="GAN objectives on MNIST, scored by a "
                              "classifier of our own", budget=budget, sections=[section], elapsed=f"{elapsed:.0f} s",
                              intro=__doc__.split("\n\n", 1)[1].replace("\n", " "))
