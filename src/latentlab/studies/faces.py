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
Running it again with the same --out reuses the finished runs and resumes an interrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from latentlab.data.handoff import prepare
from latentlab.models.ppca import PPCA, PPCAConfig
from latentlab.studies import faces_report as report
from latentlab.studies.base import Study, study
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


def body(s: Study, b: Budget, dataset: str) -> Path:
    """Train, fit and compare the three models under the budget on `dataset`; returns the report's path."""
    common = [*DATASETS[dataset], f"train.iterations={b.iterations}", f"train.batch_size={b.batch_size}",
              f"model.z_dim={Z_DIM}",
              f"eval.figures={'true' if b.figures else 'false'}"]

    sweep = {beta: s.run(f"vae_beta{beta:g}", "faces_vae", [*common, f"model.beta={beta}"]) for beta in b.betas}
    data = prepare(sweep[b.betas[0]].config, s.data_dir, s.device)
    x_train, x_test = data.train_x, data.test_x
    pca = principal_axes(x_train, PCA_K)
    g = torch.Generator(device=x_train.device)

    sweep_models = {k: s.model(r) for k, r in sweep.items()}
    sweep_rows = {k: _measure(m, x_test, pca, b.n_samples, g) for k, m in sweep_models.items()}
    beta = min(b.betas, key=lambda k: sweep_rows[k]["fd"])
    ppca = PPCA(PPCAConfig(z_dim=Z_DIM), tuple(x_train.shape[1:])).to(x_train.device).fit(x_train)
    x_var = float(f"{ppca.sigma2.item():.3g}")
    runs = {
        "vae": sweep[beta],
        "ae": s.run("ae", "faces_ae", common),
        "vae_gaussian": s.run("vae_gaussian", "faces_vae",
                              [*common, 'model.likelihood="gaussian"', "model.beta=1.0", f"model.x_var={x_var}",
                               f"eval.iwae_k=[{b.iwae_k}]", "eval.iwae_repeats=[1]"]),
    }
    models = {"vae": sweep_models[beta], "ppca": ppca.eval(),
              **{k: s.model(runs[k]) for k in ("ae", "vae_gaussian")}}
    rows = {"vae": sweep_rows[beta], **{k: _measure(models[k], x_test, pca, b.n_samples, g)
                                        for k in ("ae", "ppca", "vae_gaussian")}}
    with torch.no_grad():
        rows["ppca"]["log_px"] = float(ppca.log_prob(x_test).double().mean())
        rows["ppca"]["log_px_train"] = float(ppca.log_prob(x_train).double().mean())
    gaussian = runs["vae_gaussian"].results["sections"]["full_test"]
    rows["vae_gaussian"]["log_px"] = -gaussian[f"-iwae_{b.iwae_k}"]

    figures = report.figures(models, sweep_models, x_train, pca, s.out / "figures", g, steps=STEPS)
    summary = {
        "dataset": dataset, "z_dim": Z_DIM, "image_shape": list(x_train.shape[1:]),
        "n_train": len(x_train), "n_test": len(x_test), "iterations": b.iterations, "iwae_k": b.iwae_k,
        "beta_sweep": {f"{k:g}": v for k, v in sweep_rows.items()}, "beta": beta,
        "test_fd": pca_frechet(x_test, pca), "ppca_sigma2": ppca.sigma2.item(), "gaussian_x_var": x_var,
        "models": rows, "walk": figures["walk"], "walk_plane": figures["walk_plane"],
        "runs": {k: str(r.path) for k, r in runs.items()},
    }
    if not s.quiet:
        print(report.summary_lines({**summary, "budget": s.budget, "elapsed_s": s.elapsed_s}))
    return s.finish(summary, title="Faces: autoencoder vs VAE vs probabilistic PCA",
                    sections=report.sections(summary, figures), intro=report.intro(summary))


run = study("faces", BUDGETS)(partial(body, dataset="olivetti_faces"))


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
