"""Faces: autoencoder vs VAE vs probabilistic PCA (docs/protocols.md, section B, WPI CS/DS 552).

Trains, through `latentlab.api.train`, the conv VAE with the Bernoulli decoder (BCE on grey
values in [0, 1]) for each β of a small sweep, the same networks as a plain AE, and a conv VAE
with a Gaussian decoder whose fixed variance is the P-PCA noise σ² (the one VAE whose test
log-likelihood is a density, comparable with P-PCA's); fits P-PCA of the same latent size in
closed form; then writes the figures (a)-(e) and the numbers into one report.html.

Choices where the protocol is silent: z = 16; β is the sweep value whose samples lie closest to
the training faces in the PCA-Fréchet distance (below); the decoded walk compares the VAE with
P-PCA on the same pair z_a, z_b ~ N(0, I). PCA-Fréchet distance: the Fréchet distance between
Gaussians fitted to samples and to training faces, both projected onto the first 20 principal
axes of the training faces — a pretrained-network-free stand-in for FID (lower is closer).

Budgets: quick = 10 iterations of batch 16 per run (the tests); standard = 1,500 iterations (batch 64,
300 epochs of Olivetti) per run, β ∈ {0.25, 0.5, 1}, IWAE-1000; full = 5,000 iterations and
β ∈ {0.1, 0.25, 0.5, 1}.
Running it again with the same --out reuses the finished runs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from latentlab import api
from latentlab import config as config_io
from latentlab.data.load import load
from latentlab.errors import UserError
from latentlab.files import atomic_write
from latentlab.models.ppca import PPCA, PPCAConfig
from latentlab.reporting.study import write_study_report
from latentlab.runs import Run
from latentlab.studies import faces_report as report
from latentlab.studies import study_threads
from latentlab.studies.faces_geometry import face_samples, pca_frechet, principal_axes


@dataclass(frozen=True)
class Budget:
    iterations: int
    betas: tuple[float, ...]
    iwae_k: int  # importance samples of the Gaussian VAE's test bound
    n_samples: int  # samples per PCA-Fréchet distance
    figures: bool = True  # each run's own figures (samples, reconstructions, curves)
    batch_size: int = 64


BUDGETS = {
    "quick": Budget(10, (0.25, 1.0), iwae_k=10, n_samples=200, figures=False, batch_size=16),
    "standard": Budget(1500, (0.25, 0.5, 1.0), iwae_k=1000, n_samples=1000),
    "full": Budget(5000, (0.1, 0.25, 0.5, 1.0), iwae_k=1000, n_samples=1000),
}
DATASETS = {  # overrides of [data] for the presets (which are Olivetti at 24×24)
    "olivetti_faces": ('data.name="olivetti_faces"', "data.image_size=[24, 24]"),
    "frey_faces": ('data.name="frey_faces"', "data.image_size=[]"),  # 28×20: the conv nets take it as it is
}
Z_DIM, STEPS, PCA_K = 16, 20, 20


def run(out: Path, budget: str, *, data_dir=None, device=None, quiet: bool = False,
        dataset: str = "olivetti_faces") -> Path:
    """Train, fit and compare the three models under `budget`; returns the report's path."""
    with study_threads():
        return _run(out, budget, data_dir=data_dir, device=device, quiet=quiet, dataset=dataset)


def _run(out: Path, budget: str, *, data_dir, device, quiet: bool, dataset: str) -> Path:
    if budget not in BUDGETS:
        raise UserError(f"unknown budget '{budget}'; known: {', '.join(BUDGETS)}")
    if dataset not in DATASETS:
        raise UserError(f"the faces study runs on {', '.join(DATASETS)}, not '{dataset}'")
    b, out, t0 = BUDGETS[budget], Path(out), time.perf_counter()
    common = [*DATASETS[dataset], f"train.iterations={b.iterations}", f"train.batch_size={b.batch_size}",
              f"model.z_dim={Z_DIM}",
              f"eval.figures={'true' if b.figures else 'false'}"]
    train = dict(root=out / "runs", data_dir=data_dir, device=device, quiet=quiet)

    sweep = {beta: _train("faces_vae", f"vae_beta{beta:g}", [*common, f"model.beta={beta}"], **train)
             for beta in b.betas}
    data = load(Run.open(sweep[b.betas[0]]).config, data_dir, device)
    x_train, x_test = data.train_x, data.test_x
    pca = principal_axes(x_train, PCA_K)
    g = torch.Generator(device=x_train.device)

    sweep_models = {k: Run.open(r).load_model(device) for k, r in sweep.items()}
    sweep_rows = {k: _measure(m, x_test, pca, b.n_samples, g) for k, m in sweep_models.items()}
    beta = min(b.betas, key=lambda k: sweep_rows[k]["fd"])
    ppca = PPCA(PPCAConfig(z_dim=Z_DIM), tuple(x_train.shape[1:])).to(x_train.device).fit(x_train)
    x_var = float(f"{ppca.sigma2.item():.3g}")
    runs = {
        "vae": sweep[beta],
        "ae": _train("faces_ae", "ae", common, **train),
        "vae_gaussian": _train("faces_vae", "vae_gaussian",
                               [*common, 'model.likelihood="gaussian"', "model.beta=1.0", f"model.x_var={x_var}",
                                f"eval.iwae_k=[{b.iwae_k}]", "eval.iwae_repeats=[1]"], **train),
    }
    models = {"vae": sweep_models[beta], "ppca": ppca.eval(),
              **{k: Run.open(runs[k]).load_model(device) for k in ("ae", "vae_gaussian")}}
    rows = {"vae": sweep_rows[beta], **{k: _measure(models[k], x_test, pca, b.n_samples, g)
                                        for k in ("ae", "ppca", "vae_gaussian")}}
    with torch.no_grad():
        rows["ppca"]["log_px"] = float(ppca.log_prob(x_test).double().mean())
        rows["ppca"]["log_px_train"] = float(ppca.log_prob(x_train).double().mean())
    gaussian = json.loads((runs["vae_gaussian"] / "results.json").read_text())["sections"]["full_test"]
    rows["vae_gaussian"]["log_px"] = -gaussian[f"-iwae_{b.iwae_k}"]

    figures = report.figures(models, sweep_models, x_train, pca, out / "figures", g, steps=STEPS)
    summary = {
        "study": "faces", "budget": budget, "dataset": dataset, "z_dim": Z_DIM, "image_shape": list(x_train.shape[1:]),
        "n_train": len(x_train), "n_test": len(x_test), "iterations": b.iterations, "iwae_k": b.iwae_k,
        "beta_sweep": {f"{k:g}": v for k, v in sweep_rows.items()}, "beta": beta,
        "test_fd": pca_frechet(x_test, pca), "ppca_sigma2": ppca.sigma2.item(), "gaussian_x_var": x_var,
        "models": rows, "walk": figures["walk"], "walk_plane": figures["walk_plane"],
        "runs": {k: str(r) for k, r in runs.items()},
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }
    atomic_write(out / "summary.json", json.dumps(summary, indent=2))
    if not quiet:
        print(report.summary_lines(summary))
    return write_study_report(
        out / "report.html", name="faces", title="Faces: autoencoder vs VAE vs probabilistic PCA",
        budget=budget, sections=report.sections(summary, figures), intro=report.intro(summary),
        elapsed=f"{summary['elapsed_s'] / 60:.1f} min in all")


def _train(preset: str, name: str, overrides: list[str], *, root: Path, data_dir, device, quiet) -> Path:
    """Train (or reuse, if this --out already holds it) one run of the study."""
    run_dir = root / name
    if not quiet:
        print(f"[faces] {name}: {preset} {' '.join(overrides)}", flush=True)
    if (run_dir / "config.toml").exists():
        if (run_dir / "config.toml").read_text() != config_io.to_toml(config_io.load(preset, overrides)[0]):
            raise UserError(f"{run_dir} holds a run with another config; give the study another --out")
        if (run_dir / "results.json").exists():
            return run_dir
        return api.train(None, resume=run_dir, data_dir=data_dir, device=device, quiet=quiet)
    return api.train(preset, overrides=overrides, out=run_dir, data_dir=data_dir, device=device, quiet=quiet)


# ----------------------------------------------------------------------------- measurements


@torch.no_grad()
def _measure(model, x_test: torch.Tensor, pca: dict, n_samples: int, g: torch.Generator) -> dict:
    """Test reconstruction error (decoded code / posterior mean, clipped to [0, 1]) and the
    PCA-Fréchet distance of the images the collages show (`face_samples`)."""
    model.eval()
    z, _ = model.encode(x_test)
    x_hat = model.decode(z).clamp(0, 1)
    samples = face_samples(model, n_samples, g.manual_seed(0))
    terms = {}
    if "nelbo" in (loss := model.loss({"x": x_test}, "model")):
        terms = {"test_nelbo": float(loss["nelbo"]), "test_kl": float(loss["kl"])}
    return {"test_mse": float((x_hat - x_test).pow(2).mean()), "fd": pca_frechet(samples, pca), **terms,
            "code_std": float(model.encode(x_test)[0].std(0).mean())}
