"""The faces study's measurements: principal axes of the training faces, the PCA-Fréchet distance,
what each model generates, and the geometry of a decoded latent walk (its bend, and the plane
it bends in). Shared by the study (faces.py) and its figures (faces_report.py)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from latentlab.models.ppca import PPCA


def principal_axes(x: torch.Tensor, k: int) -> dict:
    """Mean (D,) and the first k principal axes (D, k) of the flattened images, float64."""
    flat = x.flatten(1).double()
    mean = flat.mean(0)
    _, _, vh = torch.linalg.svd(flat - mean, full_matrices=False)
    return {"mean": mean, "axes": vh[:k].T, "train": (flat - mean) @ vh[:k].T}


def project(x: torch.Tensor, pca: dict, k: int | None = None) -> torch.Tensor:
    """Images (N, ...) -> their coordinates on the first k principal axes of the training faces."""
    axes = pca["axes"] if k is None else pca["axes"][:, :k]
    return (x.flatten(1).double() - pca["mean"]) @ axes


def pca_frechet(x: torch.Tensor, pca: dict) -> float:
    """Fréchet distance ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½) between Gaussians fitted to images x
    and to the training faces, both on the training faces' first principal axes (FID without a network)."""
    a, b = project(x, pca).cpu().numpy(), pca["train"].cpu().numpy()
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(ca @ cb).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * root))


def face_samples(model, n: int, g: torch.Generator) -> torch.Tensor:
    """What each model generates, clipped to [0, 1]: P-PCA's samples x ~ N(μ, WWᵀ + σ²I); the VAE's and
    the AE's decoder means at z ~ N(0, I) (a Bernoulli draw of a grey face would be noise)."""
    if isinstance(model, PPCA):
        return model.sample(n, generator=g).clamp(0, 1)
    return model.decode(model.sample_z(n, generator=g)).clamp(0, 1)


def chord_plane(walk: torch.Tensor, fallback: torch.Tensor):
    """The map image -> (along the chord, along the largest deviation from it) for a walk (S, ...),
    with the first point at the origin: the plane in which the walk's bend shows at its true size.
    A straight walk has no deviation: `fallback` (D,), made orthogonal to the chord, is the 2nd axis."""
    w = walk.flatten(1).double()
    u = (w[-1] - w[0]) / (w[-1] - w[0]).norm()
    r = (w - w[0]) - ((w - w[0]) @ u)[:, None] * u  # (S, D) deviations from the chord's line
    k = int(r.norm(dim=1).argmax())
    if r[k].norm() < 1e-6 * (w[-1] - w[0]).norm():
        r[k] = fallback - (fallback @ u) * u
    v = r[k] / r[k].norm()

    def coordinates(x: torch.Tensor) -> torch.Tensor:
        e = x.flatten(1).double() - w[0]
        return torch.stack([e @ u, e @ v], 1)

    return coordinates


def bend(walk: torch.Tensor) -> float:
    """Largest distance of a decoded walk (S, ...) from the straight segment between its ends,
    relative to that segment's length, in pixel space: 0 for a straight line."""
    w = walk.flatten(1).double()
    chord = w[-1] - w[0]
    t = ((w - w[0]) @ chord / chord.dot(chord)).clamp(0, 1)  # (S,) position along the chord
    return float((w - w[0] - t[:, None] * chord).norm(dim=1).max() / chord.norm())
