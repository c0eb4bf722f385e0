"""How close 2-D samples are to a distribution, with no pretrained network — and the floor of each number.

Every two-sample metric is a biased V-statistic, so it is ≥ 0, and its expected value between
two independent draws of n from the real distribution — the floor — is what a perfect sampler
scores on average. Single values are noisy (their sd is about their mean, the distribution
skewed), so a model's number is the mean over MODEL_DRAWS draws of n, each against
REALS_PER_DRAW fresh real draws of n (sd of that mean ≈ 0.25 × the floor for a model at its floor).
The floor of the energy distance and of MMD² is known in closed form, 2·E‖X - X'‖/n and
2·(1 - E k(X, X'))/n, the two expectations estimated from FLOOR_PAIRS pairs of independent real
draws (precise to ~0.3 %); the floor of the sliced Wasserstein distance is its mean over those pairs.

mmd2           MMD² (Gretton et al. 2012, eq. 5 with the diagonal kept), k = mean over bandwidths h
               of exp(-‖a - b‖²/(2h²)), h ∈ BANDWIDTHS in standardised units
energy         energy distance 2E‖X - Y‖ - E‖X - X'‖ - E‖Y - Y'‖ (Székely & Rizzo 2013)
sw             sliced 2-Wasserstein: √(mean over N_PROJ evenly spaced directions of W2² of the projections)
modes_covered  mixtures: modes with at least one sample within 3 std of their mean
within_3sigma  mixtures: share of samples within 3 std of their nearest mode (real: 1 - e^{-9/2} ≈ 0.989 in 2-D)
score_err      mixtures: √(E‖s_θ - ∇log p_σ‖² / E‖∇log p_σ‖²) over x ~ p_σ: where the smoothed density is high
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import torch
from torch import Tensor

from latentlab.data import toy2d
from latentlab.data.toy2d import GaussianMixture

BANDWIDTHS = (0.05, 0.1, 0.2, 0.5, 1.0)
N_PROJ = 64
MODEL_DRAWS, REALS_PER_DRAW = 5, 2  # a model's number: the mean over 5 draws × 2 fresh real draws each
FLOOR_PAIRS = 20  # pairs of independent real draws behind each floor
FIELD_SIGMAS = (1.0, 0.2, 0.05)  # the three noise levels of the score figures and score errors


def _pair_means(a: Tensor, b: Tensor, bandwidths: tuple[float, ...], chunk: int = 256) -> tuple[float, float]:
    """(mean ‖a_i - b_j‖, mean k(a_i, b_j)) over all pairs (i, j), in one pass of row chunks."""
    dist = kern = 0.0
    scales = [-0.5 / h**2 for h in bandwidths]
    for rows in a.split(chunk):
        d = torch.cdist(rows, b)  # (chunk, M)
        # row sums in float32, their total in float64: the metrics are differences of means ~1,000×
        # larger than themselves, which a float32 sum of 10^6 terms is not accurate enough for
        dist += float(d.sum(1).sum(dtype=torch.float64))
        if scales:
            sq = d.square_()
            kern += sum(float(torch.exp(sq * c).sum(1).sum(dtype=torch.float64)) for c in scales) / len(scales)
    n = len(a) * len(b)
    return dist / n, kern / n


def energy_and_mmd2(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] = BANDWIDTHS) -> tuple[float, float]:
    """(energy distance, MMD²), both biased V-statistics, from one pass over the three blocks xx, yy, xy."""
    (dxx, kxx), (dyy, kyy), (dxy, kxy) = (_pair_means(a, b, bandwidths) for a, b in ((x, x), (y, y), (x, y)))
    return 2 * dxy - dxx - dyy, kxx + kyy - 2 * kxy


def mmd2(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] = BANDWIDTHS) -> float:
    """Biased MMD²(x, y) = E k(x,x') + E k(y,y') - 2 E k(x,y), k the mean of RBF kernels over `bandwidths`."""
    return energy_and_mmd2(x, y, bandwidths)[1]


def energy_distance(x: Tensor, y: Tensor) -> float:
    """2E‖X - Y‖ - E‖X - X'‖ - E‖Y - Y'‖ with every mean over all pairs (diagonal included)."""
    return energy_and_mmd2(x, y, ())[0]


def sliced_wasserstein(x: Tensor, y: Tensor, n_proj: int = N_PROJ) -> float:
    """SW_2 over n_proj directions at angles πk/n_proj; x and y of the same size (N, 2)."""
    if x.shape != y.shape or x.shape[-1] != 2:
        raise ValueError(f"sliced_wasserstein expects two (N, 2) samples of the same N, "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    angle = torch.arange(n_proj, device=x.device, dtype=x.dtype) * (math.pi / n_proj)
    dirs = torch.stack([angle.cos(), angle.sin()])  # (2, P)
    px, py = (x @ dirs).sort(0).values, (y @ dirs).sort(0).values  # (N, P): 1-D optimal coupling
    return float((px - py).pow(2).mean().sqrt())


def mode_stats(x: Tensor, mixture: GaussianMixture) -> dict[str, float]:
    """{"modes_covered": int, "within_3sigma": share} of samples x (N, 2) against the mixture's modes."""
    dist = torch.cdist(x, mixture.means.to(x))  # (N, K)
    near = dist < 3 * mixture.std
    return {"modes_covered": int(near.any(0).sum()), "within_3sigma": float(near.any(1).float().mean())}


def sample_metrics(x: Tensor, y: Tensor, mixture: GaussianMixture | None = None) -> dict[str, float]:
    """The two-sample metrics of samples x against a real draw y, plus x's mode statistics for a mixture."""
    energy, mmd = energy_and_mmd2(x, y)
    out = {"energy": energy, "mmd2": mmd, "sw": sliced_wasserstein(x, y)}
    if mixture is not None:
        out.update(mode_stats(x, mixture))
    return out


def paired_metrics(xs: list[Tensor], draw: Callable[[int], Tensor], mixture: GaussianMixture | None = None,
                   reals: int = 1) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and sd of `sample_metrics(x, y)` over x in `xs` and `reals` fresh real draws y of len(x) per x."""
    runs = [sample_metrics(x, draw(len(x)), mixture) for x in xs for _ in range(reals)]
    values = {k: torch.tensor([r[k] for r in runs], dtype=torch.float64) for k in runs[0]}
    return ({k: float(v.mean()) for k, v in values.items()},
            {k: float(v.std()) if len(runs) > 1 else 0.0 for k, v in values.items()})


def relative_score_error(score: Tensor, exact: Tensor) -> float:
    """√(Σ‖s - s*‖² / Σ‖s*‖²): the RMS error of a score field relative to the RMS of the exact one."""
    return float((score - exact).pow(2).sum().div(exact.pow(2).sum()).sqrt())


def nearest_level(sigmas: Tensor, sigma: float) -> int:
    """The index of the noise level closest to σ on a log scale."""
    return int((sigmas.log() - math.log(sigma)).abs().argmin())


@torch.no_grad()
def score_errors(model, mixture: GaussianMixture, n: int, generator: torch.Generator | None = None,
                 targets: tuple[float, ...] = FIELD_SIGMAS) -> dict[str, float]:
    """{"score_err@target": relative_score_error} of a NoiseConditionalScore model at its levels nearest `targets`.

    σ is the level's own (the model's step nearest the target), and x ~ p_σ = mixture ⊛ N(0, σ²I).
    """
    out = {}
    for target in targets:
        level = nearest_level(model.sigmas, target)
        sigma = float(model.sigmas[level])
        smoothed = mixture.perturbed(sigma)
        x = smoothed.sample(n, generator).to(model.sigmas.device)
        out[f"score_err@{target:g}"] = relative_score_error(model.smoothed_score(x, level), smoothed.score(x))
    return out


@lru_cache(maxsize=64)
def _real_floor(name: str, n: int, seed: int) -> tuple[tuple, tuple]:
    g = torch.Generator().manual_seed(seed)
    mixture = toy2d.mixture(name)
    runs = []
    for _ in range(FLOOR_PAIRS):
        a, b = toy2d.sample(name, n, g), toy2d.sample(name, n, g)
        delta, kappa = _pair_means(a, b, BANDWIDTHS)  # E‖X - X'‖ and E k(X, X') from independent points
        runs.append({"delta": delta, "kappa": kappa, "sw": sliced_wasserstein(a, b),
                     **(mode_stats(a, mixture) if mixture is not None else {})})
    values = {k: torch.tensor([r[k] for r in runs], dtype=torch.float64) for k in runs[0]}
    mean = {k: float(v.mean()) for k, v in values.items()}
    sd = {k: float(v.std()) for k, v in values.items() if k not in ("delta", "kappa")}
    floor = {"energy": 2 * mean.pop("delta") / n, "mmd2": 2 * (1 - mean.pop("kappa")) / n, **mean}
    return tuple(floor.items()), tuple(sd.items())


def real_floor(name: str, n: int, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """The floor of `sample_metrics` between two independent real draws of n, and the sd of its measured parts.

    Energy and MMD²: their expected values 2·E‖X - X'‖/n and 2·(1 - E k(X, X'))/n (V-statistics:
    only the n diagonal terms of each within-sample mean differ from the cross mean), the two
    expectations from FLOOR_PAIRS pairs of draws; sliced W2 and the mode statistics: the mean over
    those pairs. Seeded; cached per process, since every model of a distribution shares it.
    """
    floor, sd = _real_floor(name, n, seed)
    return dict(floor), dict(sd)
