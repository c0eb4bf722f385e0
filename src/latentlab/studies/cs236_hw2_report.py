"""The tables, checks and figures of the cs236-hw2 study, from its `Run`s: results.json, figures and models."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import torch

from latentlab.checks import Check
from latentlab.data.handoff import prepare
from latentlab.reporting.study import Section, Table
from latentlab.run import Run
from latentlab.studies.cs236_hw2_figures import beta_curves, beta_gallery

BOUNDS = ("nelbo", "kl", "rec", "-iwae_1", "-iwae_10", "-iwae_100", "-iwae_1000")
Runs = dict[str, list[Run]]  # experiment key -> the run of each seed


def mean_sd(values: list[float]) -> float | str | None:
    """One number, or "mean ± sd" (sample sd) over seeds; None when there is none."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    sd = statistics.stdev(values)
    return f"{statistics.fmean(values):.2f} ± {sd:.2f}" if sd >= 0.005 else f"{statistics.fmean(values):.2f} ± {sd:.1g}"


def _results(runs: Runs, key: str) -> list[dict]:
    """results.json of each seed's run of experiment `key`."""
    return [run.results for run in runs.get(key, [])]


def _values(runs: Runs, key: str, section: str, metric: str) -> list[float]:
    return [r["sections"].get(section, {}).get(metric) for r in _results(runs, key)]


def _reference(runs: Runs, key: str, metric: str) -> str:
    ref = (runs[key][0].results.get("reference") or {}).get("values", {}).get(metric)
    if ref is None:
        return ""
    mean, sd = ref
    return f"{mean:g}" if sd is None else f"{mean:g} ± {sd:g}"


def _checks(runs: Runs, key: str, label: str) -> list[Check]:
    seeds = len(runs[key])
    return [Check(f"{label}{f' (seed {i})' if seeds > 1 else ''}: {c['name']}", c["passed"], c.get("value"))
            for i, r in enumerate(_results(runs, key)) for c in r["checks"]]


def _figure(runs: Runs, key: str, name: str) -> Path:
    return runs[key][0].figures_dir / name


def sections(runs: Runs, betas: tuple[float, ...], figures: Path, *, data_dir=None, device=None) -> list[Section]:
    """The report's sections, from the evaluated runs; the β figures are drawn into `figures`."""
    return [_vae_gmvae(runs), _ssvae(runs), _cvae(runs), _beta(runs, betas, figures, data_dir, device),
            _timings(runs)]


def _vae_gmvae(runs: Runs) -> Section:
    first = runs["vae"][0].results
    subset = Table(["metric (nats)", "VAE", "VAE reference", "GMVAE", "GMVAE reference"], [
        [m, mean_sd(_values(runs, "vae", "subset", m)), _reference(runs, "vae", m),
         mean_sd(_values(runs, "gmvae", "subset", m)), _reference(runs, "gmvae", m)] for m in BOUNDS],
        caption="CS236 test subset (100 images, statically binarized)",
        note=_passes(first) + (first.get("reference") or {}).get("note", ""))
    tables = [subset]
    if any("full_test" in r["sections"] for r in _results(runs, "vae")):
        tables.append(Table(["metric (nats)", "VAE", "GMVAE"], [
            [m, mean_sd(_values(runs, "vae", "full_test", m)), mean_sd(_values(runs, "gmvae", "full_test", m))]
            for m in BOUNDS], caption="full test set (10,000 images, statically binarized, one pass)",
            note="No published numbers: a 100-image subset moves by about ±1 nat between subsets."))
    below = []
    for m in BOUNDS[:1] + BOUNDS[3:]:
        vae, gmvae = _values(runs, "vae", "subset", m), _values(runs, "gmvae", "subset", m)
        if None not in vae + gmvae and vae:
            g, v = statistics.fmean(gmvae), statistics.fmean(vae)
            below.append(Check(f"GMVAE below the VAE on the subset: {m} {g:.2f} < {v:.2f}", g < v, g - v))
    return Section(
        "VAE and GMVAE (z = 10; GMVAE prior: 500 trained Gaussians)",
        text="The GMVAE's KL is the one-sample estimate log q(z|x) - log p_mix(z); both models' -IWAE-k use the "
        "sampled log q - log p. The check values of the GMVAE-below-VAE lines are the differences.",
        tables=tables, checks=_checks(runs, "vae", "VAE") + _checks(runs, "gmvae", "GMVAE") + below,
        figures=[("VAE: 200 samples (10×20), decoder probabilities above, Bernoulli draws below",
                  _figure(runs, "vae", "samples.png")),
                 ("GMVAE: 200 samples (10×20), decoder probabilities above, Bernoulli draws below",
                  _figure(runs, "gmvae", "samples.png"))])


def _passes(result: dict) -> str:
    p = result["protocol"]
    ks, reps = "/".join(map(str, p["iwae_k"])), "/".join(map(str, p["iwae_repeats"]))
    return f"NELBO, KL, Rec: mean over {p['subset_repeats']} passes; -IWAE-k over {reps} passes for k = {ks}. "


def _ssvae(runs: Runs) -> Section:
    rows = [[label, mean_sd(_values(runs, key, "test", "accuracy")), _reference(runs, key, "accuracy"),
             len(runs[key])] for key, label in (("ssvae_gw0", "gw = 0 (classifier on 100 labels)"),
                                                  ("ssvae_gw1", "gw = 1 (M2)"))]
    return Section(
        "Semi-supervised VAE (M2), 100 labels",
        text="z = 64, cw = 100; the unlabelled -ELBO enumerates all 10 labels exactly, one z per (x, y); "
        "the 100 labelled images of the CS236 \"train\" lists are re-binarized every step.",
        tables=[Table(["model", "test accuracy (%)", "reference (%)", "seeds"], rows,
                      caption="q(y|x) on the 10,000 grey MNIST test images",
                      note=(runs["ssvae_gw1"][0].results.get("reference") or {}).get("note", ""))],
        checks=_checks(runs, "ssvae_gw0", "SSVAE gw = 0") + _checks(runs, "ssvae_gw1", "SSVAE gw = 1"),
        figures=[("SSVAE gw = 1: row i = label i, column j = one shared z_j ~ N(0, I), decoder probabilities",
                  _figure(runs, "ssvae_gw1", "conditional_samples.png"))])


def _cvae(runs: Runs) -> Section:
    metrics = [m for m in BOUNDS if any(m in r["sections"].get("full_test", {}) for r in _results(runs, "cvae_mnist"))]
    rows = [[m, *(mean_sd(_values(runs, key, "full_test", m)) for key in ("cvae_mnist", "cvae_fashion"))]
            for m in metrics]
    return Section(
        "Conditional VAE (the FSVAE of the homework) on MNIST and Fashion-MNIST",
        text="SVHN is not on this machine: the same model (Gaussian decoder with variance 0.1 on grey values, "
        "y one-hot into encoder and decoder, z = 10) on MNIST and Fashion-MNIST; the preset svhn_cvae is the "
        "protocol itself. The bounds are on log p(x|y) of continuous pixels (densities, so they can be negative).",
        tables=[Table(["metric (nats)", "MNIST", "Fashion-MNIST"], rows,
                      caption="full test set, bounds on log p(x|y)", note="The protocol publishes no number.")],
        figures=[(f"{name}: row i = label i, column j = one shared z_j ~ N(0, I), clip(μ(y = i, z_j), 0, 1)",
                  _figure(runs, key, "conditional_samples.png"))
                 for key, name in (("cvae_mnist", "MNIST"), ("cvae_fashion", "Fashion-MNIST"))])


def _beta(runs: Runs, betas, figures: Path, data_dir, device) -> Section:
    vae = runs["vae"][0].results
    keys = [f"beta_{b:g}" for b in betas]
    k_max = max(vae["protocol"]["iwae_k"])
    cols = ("nelbo", "kl", "rec", f"-iwae_{k_max}")
    rows = [[f"{b:g}", *(mean_sd(_values(runs, k, "subset", m)) for m in cols)] for b, k in zip(betas, keys)]
    kl = [statistics.fmean(_values(runs, k, "subset", "kl")) for k in keys]
    rec = [statistics.fmean(_values(runs, k, "subset", "rec")) for k in keys]
    curves = beta_curves(list(betas), kl, rec, figures / "beta_sweep.png")
    gallery = _gallery([runs[k][0] for k in keys], betas, figures / "beta_gallery.png", data_dir, device)
    return Section(
        "β-VAE sweep (the VAE objective Rec + β·KL)",
        text="β < 1 buys sharper reconstructions with a larger KL (samples from the prior get worse); β > 1 "
        "pushes q(z|x) towards the prior: smoother, blurrier reconstructions. β = 1 is the VAE above.",
        tables=[Table(["β", "NELBO", "KL", "Rec", f"-IWAE-{k_max}"], rows, caption="CS236 test subset (nats)",
                      note=_passes(vae))],
        figures=[("KL and Rec per β (CS236 subset)", curves),
                 ("samples (decoder probabilities, z ~ N(0, I)) and reconstructions of the same test digits, "
                  "one row per β", gallery)])


@torch.no_grad()
def _gallery(runs: list[Run], betas, path: Path, data_dir, device) -> Path:
    data = prepare(runs[0].config, data_dir, device)
    first = [int(torch.nonzero(data.test_y == c)[0]) for c in range(10)]
    originals = data.test_x[first]  # the first test image of each digit
    samples, recons = [], []
    for run in runs:
        model = run.load_model(device)  # EMA weights where the run kept them
        g = torch.Generator(device=originals.device).manual_seed(0)
        samples.append(model.decode(model.sample_z(10, g)).cpu())
        recons.append(model.decode(model.encode(originals)[0]).cpu())
    return beta_gallery([f"β = {b:g}" for b in betas], torch.stack(samples), torch.stack(recons),
                        originals.cpu(), path)


def _timings(runs: Runs) -> Section:
    rows = []
    for key, rs in runs.items():
        if key == "beta_1":
            continue
        for run in rs:
            r = run.results
            e = r.get("elapsed", {})
            rows.append([run.name, r["step"], e.get("train_s"), e.get("eval_s")])
    return Section("Timings", tables=[Table(["run", "iterations", "train (s)", "eval (s)"], rows)])


def summary(runs: Runs) -> dict:
    """Every number of the study in one JSON-able dict."""
    return {"runs": {key: [{"run": str(run.path), "step": r["step"], "sections": r["sections"],
                            "checks": [{"name": c["name"], "passed": c["passed"]} for c in r["checks"]],
                            "elapsed": r.get("elapsed", {})} for run, r in zip(rs, _results(runs, key))]
                     for key, rs in runs.items()}}


def summary_lines(summary: dict) -> str:
    """A few lines for the terminal: the first section of every run and its failed checks."""
    lines = []
    for key, rs in summary["runs"].items():
        for r in rs:
            first = next(iter(r["sections"].values()), {})
            nums = ", ".join(f"{k} {v:.2f}" for k, v in first.items() if isinstance(v, float) and math.isfinite(v))
            failed = [c["name"] for c in r["checks"] if not c["passed"]]
            lines.append(f"{Path(r['run']).name}: {nums}" + (f"  FAILED: {'; '.join(failed)}" if failed else ""))
    return "\n".join(lines)


def intro(budget: str, b) -> str:
    its = ", ".join(f"{k} {v:,}" for k, v in b.iterations.items()) or "as in the protocol (VAE, GMVAE and the " \
        "β sweep 20,000; SSVAE 30,000; conditional VAE 50,000)"
    return (f"CS236 (Stanford, Fall 2021) homework 2, reproduced under docs/protocols.md, section A. Budget {budget}: "
            f"iterations {its}; seeds {', '.join(map(str, b.seeds))} for the models with published numbers "
            "(mean ± sd over seeds where there are several). Every run directory is under runs/.")
