"""diffusion-mnist: a U-Net DDPM on MNIST, sampled by DDIM and by the ancestral sampler, guided by
classifier-free guidance, and scored beside the GANs and the VAE of gan-mnist on one feature
classifier (docs/protocols.md, section F).

The study trains (or reuses) five runs: ddpm_mnist, ddpm_mnist_guided, and the non-saturating
GAN, the least-squares GAN and the VAE exactly as the gan-mnist study of the same budget trains
them (copy that study's runs/ folder into this one's to reuse them). Every model is scored by the
samples_mnist protocol: as many samples as test images, the Fréchet distance, Inception score,
precision and recall (k = 3) of the classifier's features. The study then samples the DDPM by DDIM
at several step counts and by the ancestral sampler (quality against speed), the guided model at
several w, and the DDPM's checkpoints (quality against training). On the CPU the trainings and
then the measurements run in one single-thread process per core (studies.run_parallel).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from latentlab.checks import Check
from latentlab.evaluation import classifier_metrics as cm
from latentlab.reporting.study import Section, Table
from latentlab.run import Run
from latentlab.run.metrics import read_metrics
from latentlab.studies import gan_mnist, parallel_workers, run_parallel
from latentlab.studies import diffusion_measures as measure
from latentlab.studies.base import Study, study
from latentlab.viz import adversarial as grids
from latentlab.viz import diffusion as fig
from latentlab.viz.figures import image_rows, loss_curves


@dataclass(frozen=True)
class Budget:
    """Training: the DDPMs' iterations and checkpoints (one point of the training curve each) and overrides of
    both presets; gan-mnist's budget for the GANs and the VAE (its classifier and n_test score every model).
    Measurements: DDIM (η = 0) step counts and spacings on n_curve images, and DDIM with η = `eta` at the same
    steps on the same images; the ancestral sampler on n_ancestral; the guidance scales on per_class images of
    each digit, sampled by DDIM with guided_steps and guided_eta; each checkpoint on n_training images."""

    ddpm_iterations: int
    checkpoint_every: int
    gan: gan_mnist.Budget
    steps: tuple[int, ...]
    spacings: tuple[str, ...]
    n_curve: int
    n_ancestral: int
    guidance: tuple[float, ...]
    per_class: int
    n_training: int
    ddpm: tuple[str, ...] = ()
    eta: float = 1.0
    guided_steps: int = 100
    guided_eta: float = 1.0


BUDGETS = {
    "quick": Budget(30, 15, gan_mnist.BUDGETS["quick"], (10, 20), ("uniform",), 40, 20, (0.0, 2.0), 4, 40,
                    ("model.timesteps=100", "model.channels=8"), guided_steps=20),
    "standard": Budget(5000, 1000, gan_mnist.BUDGETS["standard"], (10, 20, 50, 100), ("uniform", "quadratic"),
                       500, 200, (0.0, 1.0, 3.0), 50, 500),
    "full": Budget(40_000, 5000, gan_mnist.BUDGETS["full"], (10, 20, 50, 100, 200), ("uniform", "quadratic"),
                   5000, 2000, (0.0, 0.5, 1.0, 2.0, 4.0), 500, 2000,
                   ("model.channels=64", "model.channel_mult=[1, 2, 2]", "model.res_blocks=2",
                    "train.batch_size=128", "train.ema=0.9999")),
}
FAMILIES = ("nonsaturating", "least_squares", "vae")
FID_FACTOR = 1.5  # DDIM-50 against ancestral-1000 (Song et al. 2021, Table 1, CIFAR-10: 4.67 against 3.17)
GUIDED_ACCURACY = 95.0
FORWARD_T = (0, 50, 100, 200, 300, 500, 700, 999)


@study("diffusion-mnist", BUDGETS)
def run(s: Study, b: Budget) -> Path:
    """Train the DDPMs, the GANs and the VAE, measure and draw them; returns the report's path."""
    workers = parallel_workers(s.device, s.threads, 2)
    runs = train_all(s, b, workers)
    jobs = measurement_jobs(s, b, runs)
    kept = measure.Kept(s.out / "measures", {k: runs[k] for k in ("ddpm", "ddpm_guided")})
    got = kept.read(jobs)
    s.log(f"measuring {', '.join(jobs)} in {workers} process(es) of {s.threads} thread(s)"
          + (f"; {', '.join(got)} kept from an earlier invocation" if got else ""))
    got.update(run_parallel(jobs, workers=workers, threads=s.threads, done=kept.writer(jobs)))
    stochastic = got.pop("stochastic")
    got["sweep"] = {"rows": got["sweep"]["rows"] + stochastic["rows"], "grids": {**got["sweep"]["grids"],
                                                                                 **stochastic["grids"]}}
    runs["ddpm"] = Run.open(runs["ddpm"].path)
    seconds = {k: measure.sampling_seconds(str(runs[k].path), 1000 if s.budget != "quick" else 50) for k in FAMILIES}
    families, family_checks, scores = families_table(runs, got["sweep"]["rows"], seconds)
    sections = [process_section(s, runs["ddpm"]), sweep_section(s, got["sweep"]), guided_section(s, got["guided"], b),
                families, training_section(s, got["training"], runs)]
    sections[3].checks.extend(family_checks)
    checks = [c for section in sections for c in section.checks]
    summary = {"sweep": got["sweep"]["rows"], "guided": got["guided"]["rows"], "training": got["training"],
               "families": scores, "seconds": {"sampling_per_1000": seconds}, "checks": checks,
               "torch_threads": s.threads, "workers": workers}
    return s.finish(summary, title="Diffusion on MNIST: DDPM, DDIM and guidance beside the GANs and the VAE",
                    sections=sections, intro=__doc__.split("\n\n", 1)[1].replace("\n", " "))


def measurement_jobs(s: Study, b: Budget, runs: dict) -> dict:
    """The measurements, name -> (function, args): the DDPM run's own scoring (10,000 images at the standard
    budget), the sampler sweeps, the guidance sweep and the training curve."""
    scoring = measure.Scoring(None if s.data_dir is None else str(s.data_dir), b.gan.classifier, b.gan.n_test)
    ddpm, guided = str(runs["ddpm"].path), str(runs["ddpm_guided"].path)
    return {"ddpm": (partial(s.run, quiet=True, evaluate=True), ("ddpm", *ddpm_config(b, "ddpm_mnist"))),
            "sweep": (measure.sampler_sweep, (ddpm, scoring, b.steps, b.spacings, b.n_curve, b.n_ancestral)),
            "training": (measure.training_curve, (ddpm, scoring, b.n_training)),
            "guided": (measure.guidance_sweep, (guided, scoring, b.guidance, b.per_class, b.guided_steps,
                                                b.guided_eta)),
            "stochastic": (measure.eta_sweep, (ddpm, scoring, b.steps, b.eta, b.n_curve))}


def ddpm_config(b: Budget, preset: str) -> tuple[str, list[str]]:
    """(preset, overrides) of a DDPM run: the budget's iterations and checkpoints, scored as gan-mnist scores."""
    return preset, [*b.ddpm, f"train.iterations={b.ddpm_iterations}", f"train.checkpoint_every={b.checkpoint_every}",
                    *gan_mnist.scoring(b.gan.classifier, b.gan.n_test)]


def train_all(s: Study, b: Budget, workers: int) -> dict:
    """The two DDPMs (not yet scored), the two GANs and the VAE (scored), trained or reused in `workers` processes."""
    bars = not s.quiet and workers == 1
    jobs = {key: (partial(s.run, quiet=not bars, evaluate=False), (key, *ddpm_config(b, preset)))
            for key, preset in (("ddpm", "ddpm_mnist"), ("ddpm_guided", "ddpm_mnist_guided"))}
    for name in FAMILIES:  # the costliest first
        preset, overrides, _ = gan_mnist.run_config(name, b.gan)
        jobs[name] = (partial(s.run, quiet=not bars), (name, preset, overrides))
    s.log(f"training {len(jobs)} models in {workers} process(es) of {s.threads} thread(s)")
    return run_parallel(jobs, workers=workers, threads=s.threads)


def process_section(s: Study, run) -> Section:
    """The forward process on four test digits and the reverse (DDIM-50) path of eight samples."""
    from latentlab.data.handoff import prepare

    model = s.model(run).cpu()
    x0 = prepare(run.config, s.data_dir, "cpu").test_x[:4]
    ts = tuple(sorted({min(t, model.num_timesteps - 1) for t in FORWARD_T}))
    shown = measure.forward_and_reverse(model, x0, ts, n_paths=8, frames=11)
    forward = image_rows([(f"x_t ~ q(x_t | x_0) at t = {', '.join(map(str, ts))}", shown["forward"])],
                         [f"digit {k + 1}" for k in range(len(x0))], s.out / "forward_process.png", scale=3)
    reverse = image_rows([("x_t along DDIM (η = 0, 50 steps), x_T on the left, x_0 on the right (11 of 51 points)",
                           shown["reverse"])], [f"sample {k + 1}" for k in range(8)], s.out / "reverse_process.png",
                         scale=3)
    text = ("The forward process adds Gaussian noise by the linear β schedule until x_T is indistinguishable from "
            "N(0, I); the sampler walks back. Pixels are shown in [0, 1] (the chain runs on 2·pixel - 1), clamped.")
    return Section("The forward and the reverse process", text, [],
                   [("the forward process on four test digits", forward), ("the reverse process of eight samples", reverse)])


def _quality_row(label, r: dict, *extra) -> list:
    return [label, r["fid"], f"{r['is']:.2f}", r["precision"], r["recall"], *extra]


def _sampler(r: dict) -> str:
    return "ancestral" if r["sampler"] == "ancestral" else f"DDIM η = {r['eta']:g}, {r['spacing']}"


def sweep_section(s: Study, sweep: dict) -> Section:
    """Quality against sampling steps, with the seconds per 1,000 images: the quality-speed curve."""
    rows = sweep["rows"]
    table = Table(["sampler", "network calls", "images", "FID ↓", "IS ↑", "precision ↑", "recall ↑",
                   "s per 1,000 images"],
                  [[_sampler(r) + (" (same x_T as ancestral)" if r.get("paired") else ""),
                    r["steps"], r["n"], r["fid"], f"{r['is']:.2f}", r["precision"], r["recall"],
                    r["s_per_1000"]] for r in rows])
    ancestral = next(r for r in rows if r["sampler"] == "ancestral")
    paired = next(r for r in rows if r.get("paired"))
    ratio = paired["fid"] / ancestral["fid"]
    calls = ancestral["steps"] / paired["steps"]
    checks = [Check(f"DDIM-50's FID within {FID_FACTOR}× of ancestral-{ancestral['steps']}'s at {calls:.0f}× fewer "
                    f"network calls (the same {ancestral['n']:,} x_T)", ratio <= FID_FACTOR, round(ratio, 3))]
    text = ("Every sampler starts from the same x_T; DDIM with η > 0 draws fresh noise at every step. FID on a "
            "few hundred images is biased upwards (it falls with n): compare rows of the same n only; the "
            "10,000-image score of DDIM-50 is in the families table. Seconds are one thread of this machine.")
    figures = [("quality and time against the sampler's network calls", fig.quality_vs_steps(rows, s.out / "steps.png")),
               ("100 samples per sampler, from the same x_T (no selection)",
                grids.image_panels(list(sweep["grids"].items()), s.out / "samples_by_sampler.png", ncols=4))]
    return Section("Quality against sampling steps", text, [table], figures, checks)


def guided_section(s: Study, guided: dict, b: Budget) -> Section:
    """Classifier-free guidance: a row per digit at each w, the share classified as its label, the diversity cost."""
    rows = guided["rows"]
    table = Table(["w", "classified as their label %", "FID ↓", "IS ↑", "precision ↑", "recall ↑",
                   "s per 1,000 images"],
                  [[r["w"], r["accuracy"], r["fid"], f"{r['is']:.2f}", r["precision"], r["recall"],
                    r["s_per_1000"]] for r in rows])
    best = max(rows, key=lambda r: r["accuracy"])
    checks = [Check(f"guided samples classified as the digit they were drawn for ≥ {GUIDED_ACCURACY} % at the best w "
                    f"(w = {best['w']})", best["accuracy"] >= GUIDED_ACCURACY, best["accuracy"])]
    panels = [(f"w = {w}", x) for w, x in guided["grids"].items()]
    figures = [("one row per digit, eight samples each, at each guidance scale (no selection)",
                image_rows(panels, [str(k) for k in range(len(panels[0][1]))], s.out / "guided.png")),
               ("accuracy and quality against w", fig.quality_vs_guidance(rows, s.out / "guidance.png"))]
    text = (f"{rows[0]['n']:,} samples per w ({rows[0]['n'] // 10:,} of each digit), sampled with "
            f"ε̃ = (1 + w) ε(x, y) − w ε(x, ∅) by DDIM ({b.guided_steps} steps, η = {b.guided_eta:g}); FID, "
            "precision and recall against the whole test set.")
    return Section("Classifier-free guidance", text, [table], figures, checks)


def families_table(runs: dict, sweep_rows: list[dict], seconds: dict) -> tuple[Section, list[Check], dict]:
    """DDPM, GANs and VAE on the same classifier and test images, with train time and sampling time; the page's
    section, its checks and each row's scores."""
    ddpm_s = next(r["s_per_1000"] for r in sweep_rows if r["sampler"] == "ddim" and r["steps"] == 50 and r["eta"] == 0)
    labels = {"ddpm": "DDPM, DDIM-50", "nonsaturating": "GAN, non-saturating", "least_squares": "GAN, least squares"}
    rows, scores = [], {}
    for key in ("ddpm", *FAMILIES):
        results, train_s = runs[key].results, read_metrics(runs[key].metrics_path)[-1]["time"]
        for kind, q in results["sections"].items():
            if kind == "floor":
                continue
            label = labels.get(key) or {"samples": "VAE, x ~ p(x|z)", "decoder_means": "VAE, E[x|z]"}[kind]
            scores[label] = q
            rows.append(_quality_row(label, q, q["class_tv"], round(train_s), ddpm_s if key == "ddpm" else seconds[key]))
    floor = runs["ddpm"].results["sections"]["floor"]
    rows.append(_quality_row("real: training images (the floor)", floor, floor["class_tv"], "–", "–"))
    scores["real: training images (the floor)"] = floor
    n = runs["ddpm"].results["protocol"]["n_samples"]
    ddpm, gan = scores["DDPM, DDIM-50"], scores["GAN, non-saturating"]
    checks = [Check("the DDPM's FID (DDIM-50) below the non-saturating GAN's", ddpm["fid"] < gan["fid"],
                    round(ddpm["fid"], 2)),
              Check("the DDPM's recall above the non-saturating GAN's", ddpm["recall"] > gan["recall"],
                    ddpm["recall"])]
    checks += [Check.from_dict(c) for c in runs["ddpm"].results["checks"]]
    table = Table(["model", "FID ↓", "IS ↑", "precision ↑", "recall ↑", "class TV ↓", "train s",
                   "sampling s per 1,000 images"], rows)
    text = (f"{n:,} samples of each model against {n:,} test images, one feature classifier "
            f"({runs['ddpm'].results['protocol']['classifier']['name']}). Train seconds are each run's own (one "
            "thread); sampling seconds one thread of this machine. The DDPM samples by DDIM, 50 steps, η = 0.")
    return Section("Families on one classifier", text, [table]), checks, scores


def training_section(s: Study, rows: list[dict], runs: dict) -> Section:
    """FID, precision and recall against training steps, beside the non-saturating GAN's final numbers."""
    gan = runs["nonsaturating"].results["sections"]["samples"]
    table = Table(["training step", "images", "FID ↓", "IS ↑", "precision ↑", "recall ↑"],
                  [[r["step"], r["n"], r["fid"], f"{r['is']:.2f}", r["precision"], r["recall"]]
                   for r in rows])
    figures = [("DDIM-50 samples of each checkpoint's weights (EMA) against training steps",
                fig.quality_vs_training(rows, s.out / "training.png", gan,
                                        f"non-saturating GAN (n = {runs['nonsaturating'].results['protocol']['n_samples']:,})"))]
    for key in ("ddpm", "ddpm_guided"):
        figures.append((f"{key}: training curve", loss_curves(read_metrics(runs[key].metrics_path),
                                                             s.out / f"curves_{key}.png")))
    text = ("How far training has gone: if the DDPM's FID still falls at the last checkpoint, a longer budget "
            "buys quality. The dotted line is the GAN's score on its own (larger) sample: lower than a curve "
            "point of the same model would be, since FID falls with n.")
    ema = runs["ddpm"].config.train.ema
    if ema:
        lag = ", ".join(f"{100 * ema ** r['step']:.1f} % at step {r['step']:,}" for r in rows[:3])
        text += (f" The weights are the EMA's (decay {ema}), which starts at the initial weights and keeps "
                 f"decay^step of them ({lag}): early checkpoints score worse than their raw weights would.")
    return Section("Quality against training steps", text, [table], figures)
