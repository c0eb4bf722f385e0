"""Toy 2-D distributions, seeded and standardised: x = (x_raw - m) / s per coordinate.

Every distribution has mean 0 and variance 1 in each coordinate. For the two Gaussian
mixtures m and s are exact (s² = mean over modes of μ_d² + std², equal in both coordinates),
so their standardised log-density and score are exact too (`mixture(name)`). For the others
m and s are estimated once from a reference draw of 2^20 points with a fixed seed: the
distribution is then a fixed, exactly reproducible one, standardised to within ~1e-3.

Raw shapes (before standardising):
  8gaussians    8 modes on the unit circle, std 0.1 (a tenth of the radius)
  25gaussians   a 5×5 grid of modes at {-2, ..., 2}², std 0.1 (a tenth of the spacing)
  swissroll     t = 1.5π(1 + 2u), (t cos t, t sin t) + N(0, 0.5²)   (sklearn's, 2-D)
  moons         two interleaving half circles + N(0, 0.1²)            (sklearn's make_moons)
  checkerboard  uniform on 8 of the 16 unit squares of [-2, 2]²        (FFJORD's)
  circles       radius 1 and 0.5, half the points each, + N(0, 0.05²) (sklearn's make_circles)
  pinwheel      5 arms, radial std 0.3, tangential std 0.1, rate 0.25 (FFJORD's)
  2spirals      two interleaved spirals + N(0, 0.1²)                  (FFJORD's)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from latentlab.data.datasets import ImageData
from latentlab.errors import UserError

G = torch.Generator | None


@dataclass(frozen=True)
class GaussianMixture:
    """p(x) = (1/K) Σ_k N(x; μ_k, std² I): uniform weights, one isotropic std."""

    means: Tensor  # (K, 2)
    std: float

    def component_log_probs(self, x: Tensor) -> Tensor:
        """log N(x; μ_k, std² I) for every x and k, (B, K)."""
        d = x.shape[-1]
        sq = (x[:, None, :] - self.means.to(x)).pow(2).sum(-1)  # (B, K); not cdist, whose ‖x‖² - 2x·μ + ‖μ‖² cancels
        return -0.5 * (sq / self.std**2 + d * math.log(2 * math.pi * self.std**2))

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) = logsumexp_k log N(x; μ_k, std² I) - log K, (B,)."""
        return torch.logsumexp(self.component_log_probs(x), -1) - math.log(len(self.means))

    def score(self, x: Tensor) -> Tensor:
        """∇_x log p(x) = Σ_k r_k(x) (μ_k - x) / std², r_k = softmax_k log N(x; μ_k, std²I); (B, 2)."""
        r = torch.softmax(self.component_log_probs(x), -1)  # (B, K)
        return (r @ self.means.to(x) - x) / self.std**2

    def perturbed(self, sigma: float, scale: float = 1.0) -> GaussianMixture:
        """The law of scale·x + sigma·ε, x ~ p, ε ~ N(0, I): means scale·μ_k, std² scale²·std² + sigma²."""
        return GaussianMixture(self.means * scale, math.sqrt(scale**2 * self.std**2 + sigma**2))

    def sample(self, n: int, generator: G = None) -> Tensor:
        k = torch.randint(len(self.means), (n,), generator=generator)
        return self.means[k] + self.std * torch.randn(n, 2, generator=generator)


# ----------------------------------------------------------------------------- raw samplers


def _raw_mixture(name: str) -> tuple[Tensor, float]:
    if name == "8gaussians":
        angle = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return torch.stack([angle.cos(), angle.sin()], -1), 0.1
    grid = torch.arange(-2, 3, dtype=torch.float64)
    return torch.cartesian_prod(grid, grid), 0.1  # 25gaussians


def _swissroll(n: int, g: G) -> Tensor:
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    return torch.stack([t * t.cos(), t * t.sin()], -1) + 0.5 * torch.randn(n, 2, generator=g)


def _moons(n: int, g: G) -> Tensor:
    theta = math.pi * torch.rand(n, generator=g)
    upper = torch.rand(n, generator=g) < 0.5
    x = torch.where(upper, theta.cos(), 1 - theta.cos())
    y = torch.where(upper, theta.sin(), 0.5 - theta.sin())
    return torch.stack([x, y], -1) + 0.1 * torch.randn(n, 2, generator=g)


def _checkerboard(n: int, g: G) -> Tensor:
    x1 = 4 * torch.rand(n, generator=g) - 2
    x2 = torch.rand(n, generator=g) - 2 * torch.randint(2, (n,), generator=g) + torch.floor(x1) % 2
    return torch.stack([x1, x2], -1)


def _circles(n: int, g: G) -> Tensor:
    angle = 2 * math.pi * torch.rand(n, generator=g)
    radius = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, 0.5)
    x = radius[:, None] * torch.stack([angle.cos(), angle.sin()], -1)
    return x + 0.05 * torch.randn(n, 2, generator=g)


def _pinwheel(n: int, g: G) -> Tensor:
    arms, rate = 5, 0.25
    arm = torch.randint(arms, (n,), generator=g)
    feats = torch.randn(n, 2, generator=g) * torch.tensor([0.3, 0.1]) + torch.tensor([1.0, 0.0])
    angle = arm * (2 * math.pi / arms) + rate * feats[:, 0].exp()
    c, s = angle.cos(), angle.sin()
    return torch.stack([c * feats[:, 0] - s * feats[:, 1], s * feats[:, 0] + c * feats[:, 1]], -1)


def _two_spirals(n: int, g: G) -> Tensor:
    t = torch.rand(n, generator=g).sqrt() * (540 * 2 * math.pi / 360)
    x = torch.stack([-t.cos() * t, t.sin() * t], -1) + 0.5 * torch.rand(n, 2, generator=g)
    sign = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, -1.0)[:, None]
    return sign * x / 3 + 0.1 * torch.randn(n, 2, generator=g)


RAW: dict[str, Callable[[int, G], Tensor]] = {
    "8gaussians": lambda n, g: _mixture_raw("8gaussians").sample(n, g),
    "25gaussians": lambda n, g: _mixture_raw("25gaussians").sample(n, g),
    "swissroll": _swissroll,
    "moons": _moons,
    "checkerboard": _checkerboard,
    "circles": _circles,
    "pinwheel": _pinwheel,
    "2spirals": _two_spirals,
}
MIXTURES = ("8gaussians", "25gaussians")


def _mixture_raw(name: str) -> GaussianMixture:
    means, std = _raw_mixture(name)
    return GaussianMixture(means.float(), std)


# ----------------------------------------------------------------------------- standardised


@lru_cache(maxsize=None)
def standardisation(name: str) -> tuple[Tensor, Tensor]:
    """(m, s), each (2,): x = (x_raw - m) / s. Exact for the mixtures, else from 2^20 points seeded 0."""
    _check(name)
    if name in MIXTURES:
        means, std = _raw_mixture(name)
        s = (means.pow(2).mean() + std**2).sqrt()  # the modes are centred and symmetric in x and y
        return torch.zeros(2), s.float().expand(2).clone()
    x = RAW[name](2**20, torch.Generator().manual_seed(0)).double()
    return x.mean(0).float(), x.std(0).float()


def mixture(name: str) -> GaussianMixture | None:
    """The exact standardised mixture for 8gaussians and 25gaussians; None for the others."""
    _check(name)
    if name not in MIXTURES:
        return None
    raw = _mixture_raw(name)
    _, s = standardisation(name)
    return GaussianMixture(raw.means / s, raw.std / float(s[0]))


def sample(name: str, n: int, generator: G = None) -> Tensor:
    """n standardised draws of distribution `name`, float32 (n, 2)."""
    _check(name)
    m, s = standardisation(name)
    return ((RAW[name](n, generator) - m) / s).float()


def load_toy2d(name: str, n_train: int, n_test: int, seed: int) -> ImageData:
    """Train and test draws, (N, 2) float32, no labels: one generator seeded `seed`, train first."""
    if n_train < 1 or n_test < 1:
        raise UserError(f"data.n_train and data.n_test must be positive, got {n_train} and {n_test}")
    g = torch.Generator().manual_seed(seed)
    train = sample(name, n_train, g)
    return ImageData(train, None, sample(name, n_test, g), None, name=name)


def _check(name: str) -> None:
    if name not in RAW:
        raise UserError(f"unknown 2-D distribution {name!r}; known: {', '.join(RAW)}")
