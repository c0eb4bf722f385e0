"""The faces study's figures (docs/protocols.md, section B (a)-(e)) and the sections of its report page."""

from __future__ import annotations

from pathlib import Path

import torch

from latentlab.checks import Check
from latentlab.reporting.study import Section, Table
from latentlab.studies.faces_geometry import bend, chord_plane, face_samples, project
from latentlab.viz import faces as viz

NAMES = {"vae": "VAE (Bernoulli/BCE)", "ae": "AE", "ppca": "P-PCA", "vae_gaussian": "VAE (Gaussian decoder)"}


@torch.no_grad()
def figures(models: dict, sweep: dict, x_train: torch.Tensor, pca: dict, out: Path, g: torch.Generator,
            steps: int = 20) -> dict:
    """Every figure of the study into `out`; returns their paths and the walk's numbers."""
    vae, ae, ppca = models["vae"], models["ae"], models["ppca"]
    beta = vae.config.beta
    paths = {
        "collages": viz.collages([
            (f"(a) VAE, β = {beta:g}: decoder means at z ~ N(0, I)", face_samples(vae, 100, g.manual_seed(1))),
            ("(b) AE: decoded z ~ N(0, I)", face_samples(ae, 100, g.manual_seed(1))),
            ("P-PCA: samples x ~ N(μ, WWᵀ + σ²I)", face_samples(ppca, 100, g.manual_seed(1))),
        ], out / "collages.png"),
        "sweep": viz.collages([(f"β = {b:g}", face_samples(m, 36, g.manual_seed(1))) for b, m in sweep.items()],
                              out / "beta_sweep.png", nrow=6),
    }
    scatter = []
    for key in ("ae", "vae"):
        z = models[key].encode(x_train)[0].double()  # (N, Z) codes / posterior means
        _, _, vh = torch.linalg.svd(z - z.mean(0), full_matrices=False)
        xy = (z @ vh[:2].T).cpu().numpy()  # the codes themselves on their two principal axes
        scatter.append((f"{NAMES[key]}: training codes, first two principal axes\n"
                        f"(mean sd per latent dimension {float(z.std(0).mean()):.2f})", xy))
    paths["scatter"] = viz.latent_pca_scatter(scatter, out / "latent_pca.png")

    z_ends = torch.randn(2, ppca.config.z_dim, generator=g.manual_seed(2), device=x_train.device,
                         dtype=x_train.dtype)  # z_a, z_b ~ N(0, I)
    alpha = torch.linspace(0, 1, steps, device=x_train.device, dtype=x_train.dtype)[:, None]
    z_path = (1 - alpha) * z_ends[0] + alpha * z_ends[1]  # (S, Z)
    walks = {key: models[key].decode(z_path) for key in ("vae", "ae", "ppca")}  # unclipped: the geometry
    paths["interpolation"] = viz.interpolation_rows(
        [(f"VAE β={beta:g}", walks["vae"]), ("AE", walks["ae"]), ("P-PCA", walks["ppca"].clamp(0, 1))],
        out / "interpolation.png")
    paths["walk"] = viz.numbered_walks(
        [pca["train"][:, :2].cpu().numpy()] * 2,
        [(f"{NAMES[k]}: the {steps} decoded points\non the first two principal axes of the training faces",
          project(walks[k], pca, 2).cpu().numpy()) for k in ("vae", "ppca")],
        out / "walk.png")
    planes = {k: chord_plane(walks[k], pca["axes"][:, 0]) for k in ("vae", "ppca")}
    paths["walk_chord"] = viz.numbered_walks(
        [planes[k](x_train).cpu().numpy() for k in ("vae", "ppca")],
        [(f"{NAMES[k]}: the same points on the plane through\nthe chord and the point farthest from it",
          planes[k](walks[k]).cpu().numpy()) for k in ("vae", "ppca")],
        out / "walk_chord.png", axis_labels=("along the chord", "farthest deviation from the chord"))
    return {"paths": paths, "walk": {k: bend(w) for k, w in walks.items()},
            "walk_plane": {k: bend(project(w, pca, 2)) for k, w in walks.items()}}


def intro(s: dict) -> str:
    shape = "×".join(map(str, s["image_shape"][1:]))
    return (f"{s['dataset'].replace('_', ' ')} at {shape} ({s['n_train']} training, {s['n_test']} test faces, grey "
            f"values in [0, 1]); every model has a {s['z_dim']}-dimensional latent. The VAE and the AE share the "
            f"conv networks and are trained {s['iterations']:,} iterations each (Adam 1e-3, batch 64) through "
            "latentlab.api.train; P-PCA is fitted in closed form (Tipping & Bishop 1999).")


def sections(s: dict, figs: dict) -> list[Section]:
    m, p, beta = s["models"], figs["paths"], s["beta"]
    fd_note = ("PCA-Fréchet distance: Fréchet distance between Gaussians fitted to the generated faces and to "
               "the training faces, on the training faces' first 20 principal axes (lower = closer to faces; "
               "P-PCA fits exactly these Gaussian moments, so it is favoured). The held-out test faces score "
               f"{s['test_fd']:.3g}.")
    sweep = Table(["β", "test NELBO (BCE)", "test KL", "test MSE / pixel", "PCA-Fréchet distance of samples"],
                  [[f"{b}{' (chosen)' if float(b) == beta else ''}", r["test_nelbo"], r["test_kl"], r["test_mse"],
                    r["fd"]]
                   for b, r in s["beta_sweep"].items()],
                  note="β is chosen by the lowest PCA-Fréchet distance of the samples (training faces only). "
                       "The BCE of grey values is not a log-density, so the NELBO column only compares β's.")
    numbers = Table(
        ["model", "test MSE / pixel", "test log p(x) (nats / image)", "how"],
        [[NAMES["vae"] + f", β = {beta:g}", m["vae"]["test_mse"], "—", "not a density: BCE on grey values"],
         [NAMES["ae"], m["ae"]["test_mse"], "—", "no density"],
         [NAMES["ppca"], m["ppca"]["test_mse"], m["ppca"]["log_px"], "exact, N(μ, WWᵀ + σ²I)"],
         [NAMES["vae_gaussian"] + f", x_var = {s['gaussian_x_var']:g}", m["vae_gaussian"]["test_mse"],
          m["vae_gaussian"]["log_px"], f"IWAE-{s['iwae_k']} lower bound"]],
        note=f"Reconstruction: the decoded code (VAE, P-PCA: posterior mean), clipped to [0, 1]. Log-likelihoods are "
             f"densities of the same {s['n_test']} test faces in [0, 1]^D, D = {_d(s)}. P-PCA σ² = "
             f"{s['ppca_sigma2']:.4g}; the Gaussian VAE's fixed x_var is that σ² (3 digits). P-PCA on its "
             f"training faces: {m['ppca']['log_px_train']:.1f} nats / image.")
    fd = Table(["model", "PCA-Fréchet distance of the collage's kind of image"],
               [[NAMES[k] + (f", β = {beta:g}" if k == "vae" else ""), m[k]["fd"]]
                for k in ("vae", "ae", "ppca", "vae_gaussian")],
               note=fd_note + " The Gaussian-decoder VAE (not in the collages: its decoder means at z ~ N(0, I)) "
                              "has the "
                              "best test likelihood and the worst samples: likelihood is not sample quality.")
    walk = Table(["model", "bend in pixel space", "bend on the image PCA plane"],
                 [[NAMES.get(k, k), v, s["walk_plane"][k]] for k, v in s["walk"].items()],
                 note="bend: the largest distance of the decoded points from the straight segment between the "
                      "first and the last, divided by that segment's length (0 for a straight line).")
    return [
        Section("Numbers: reconstruction and test log-likelihood", tables=[numbers]),
        Section("The β sweep", text="Bernoulli/BCE VAEs, one per β; 36 decoder means each.",
                tables=[sweep], figures=[("samples of each β of the sweep", p["sweep"])]),
        Section("(a), (b) Generated faces",
                text="The VAE decodes faces from anywhere the prior puts mass; the AE was never asked to, so "
                     "most of N(0, I) decodes to faint average faces; P-PCA samples carry its pixel noise σ.",
                tables=[fd], figures=[("(a) VAE samples, (b) AE decoding z ~ N(0, I), P-PCA samples", p["collages"])],
                checks=[Check("the VAE's samples are closer to faces than the AE's (PCA-Fréchet distance)",
                              m["vae"]["fd"] < m["ae"]["fd"], m["vae"]["fd"])]),
        Section("(c) Latent codes of the training set after PCA",
                text="Dots: codes (VAE: posterior means), on their own first two principal axes; circles: 1σ, 2σ "
                     "of N(0, I), which projects to N(0, I₂) on any two orthonormal axes.",
                figures=[("(c) AE vs VAE latent codes", p["scatter"])]),
        Section("(d) Interpolation", figures=[("(d) one segment between z_a, z_b ~ N(0, I), decoded by each model",
                                               p["interpolation"])]),
        Section("(e) The walk in image space",
                text="The decoded points of (d) projected onto the first two principal axes of the training "
                     "faces (top) and onto the plane through the chord and the point farthest from it (bottom). "
                     "P-PCA decodes linearly, so its walk is a straight line at even steps; the VAE's bends — "
                     "mostly in directions the first two principal axes do not see, as the table shows.",
                tables=[walk],
                figures=[("(e) numbered walk, VAE vs P-PCA, on the training faces' PCA plane", p["walk"]),
                         ("the same walks on the plane of their own largest bend", p["walk_chord"])],
                checks=[Check("the P-PCA walk is straight (bend < 1e-4)", s["walk"]["ppca"] < 1e-4, s["walk"]["ppca"]),
                        Check("the VAE walk bends (bend > 0.01)", s["walk"]["vae"] > 0.01, s["walk"]["vae"])]),
    ]


def _d(s: dict) -> int:
    c, h, w = s["image_shape"]
    return c * h * w


def summary_lines(s: dict) -> str:
    m = s["models"]
    lines = [f"faces ({s['budget']}, {s['dataset']}): β sweep PCA-FD " +
             ", ".join(f"{b}: {r['fd']:.3f}" for b, r in s["beta_sweep"].items()) + f" -> β = {s['beta']:g}"]
    for k in ("vae", "ae", "ppca", "vae_gaussian"):
        ll = f", test log p(x) {m[k]['log_px']:.1f} nats/image" if "log_px" in m[k] else ""
        lines.append(f"  {NAMES[k]}: test MSE/pixel {m[k]['test_mse']:.5f}, PCA-FD {m[k]['fd']:.3f}{ll}")
    lines.append("  walk bend: " + ", ".join(f"{k} {v:.3g}" for k, v in s["walk"].items()))
    lines.append(f"  elapsed {s['elapsed_s']:.0f} s")
    return "\n".join(lines)
