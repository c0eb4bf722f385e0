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

import time
from functools import partial
from pathlib import Path

from latentlab.data.datasets import load_images
from latentlab.data.root import data_root
from latentlab.evaluation import classifier_metrics as cm
from latentlab.reporting.study import Section, Table
from latentlab.run.metrics import read_metrics
from latentlab.studies import parallel_workers, run_parallel
from latentlab.studies.base import Check, Study, study
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


@study("gan-mnist", BUDGETS)
def run(s: Study, b: dict) -> Path:
    """Train the five objectives and the VAE, score their samples with the classifier; returns the report's path."""
    workers = parallel_workers(s.device, s.threads, len(OBJECTIVES) + 1)
    bars = not s.quiet and workers == 1  # progress bars of parallel workers would overwrite each other
    train = partial(s.run, evaluate=False, quiet=not bars)  # a bound method of a dataclass: it pickles
    jobs, iterations = {}, {}  # the costliest first, so that the workers finish together
    for name in ("wgan_gp", "least_squares", "nonsaturating", "minimax", "wgan_clip", "vae"):
        preset, overrides = OBJECTIVES.get(name, ("cs236_vae", []))
        its = iterations[name] = b["vae_iterations" if name == "vae" else
                                   "wgan_iterations" if name.startswith("wgan") else "iterations"]
        jobs[name] = (train, (name, preset, [*overrides, f"train.iterations={its}", f"train.checkpoint_every={its}"]))
    s.log(f"training {len(jobs)} models in {workers} process(es) of {s.threads} thread(s)")
    trained = run_parallel(jobs, workers=workers, threads=s.threads)
    trained = {name: trained[name] for name in [*OBJECTIVES, "vae"]}
    data = load_images("mnist", data_root(s.data_dir))  # the runs first: a changed config is refused at once
    t0 = time.perf_counter()
    classifier, record = cm.feature_classifier(data, b["recipe"])
    classifier_s = time.perf_counter() - t0

    scores, freqs, grids, rows = {}, {}, [], []
    labels = {"vae.samples": "VAE: x ~ p(x|z) (Bernoulli draws)", "vae.decoder_means": "VAE: E[x|z]"}
    for name, run in trained.items():
        its, train_s = iterations[name], read_metrics(run.metrics_path)[-1]["time"]  # training seconds
        model = s.model(run)
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
        Check(f"feature classifier test accuracy ≥ 99 % ({record['name']})", record["test_accuracy"] >= 99.0,
              record["test_accuracy"]),
        Check(f"at least one objective reaches a classifier IS ≥ {IS_TARGET} (best: {best})",
              gan_is[best] >= IS_TARGET, gan_is[best]),
        Check("the classifier-feature FID is reported for all five objectives", all(k in scores for k in OBJECTIVES),
              len([k for k in OBJECTIVES if k in scores])),
    ]
    figures = [("100 samples of each model (no selection) and 100 training images",
                fig.image_panels(grids, s.out / "samples.png", ncols=4)),
               ("the classifier's class frequencies of the samples (dotted: 1/10)",
                fig.class_frequencies(freqs, s.out / "class_frequencies.png"))]
    for name, run in trained.items():
        records = read_metrics(run.metrics_path)
        if records:
            figures.append((f"{name}: training curves", loss_curves(records, s.out / f"curves_{name}.png")))
    text = (f"{b['n']:,} samples per model against the {len(data.test_x):,} test images. Classifier {record['name']}: "
            f"test accuracy {record['test_accuracy']:.2f} %, SHA-256 {record['sha256']}, "
            f"{'found in the cache' if record['cached'] else f'trained in {classifier_s:.0f} s'} "
            f"({record['path']}). FID uses its 128 penultimate ReLU features, IS its softmax (10 splits); "
            "class TV is the total variation between the sample's class frequencies and the test labels'. "
            f"GANs: {b['iterations']} generator iterations for minimax, non-saturating and least squares "
            f"(one critic step each), {b['wgan_iterations']} for the Wasserstein objectives (five critic steps each); "
            f"VAE: cs236_vae for {b['vae_iterations']} iterations. Trained in {workers} process(es) of {s.threads} "
            "torch thread(s) each.")
    section = Section("Sample quality", text,
                      [Table(["model", "FID ↓", "IS ↑ (± sd over 10 splits)", "class TV ↓", "min class share",
                              "iterations", "train s"], rows)], figures, checks)
    summary = {"classifier": record, "classifier_s": round(classifier_s, 1), "scores": scores, "class_freq": freqs,
               "checks": checks, "torch_threads": s.threads, "workers": workers}
    return s.finish(summary, title="GAN objectives on MNIST, scored by a classifier of our own", sections=[section],
                    intro=__doc__.split("\n\n", 1)[1].replace("\n", " "))
