"""Improved precision and recall of generated samples in a feature space (Kynkäänniemi et al. 2019, §2).

Each set of feature vectors Φ spans a manifold: the union of balls around its vectors, each ball's
radius the distance from the vector to its k-th nearest neighbour in Φ (itself excluded).

NND_k(φ')    ‖φ' - NN_k(φ')‖₂, NN_k(φ') the k-th nearest neighbour of φ' in Φ without φ'
f(φ, Φ)      1 if ‖φ - φ'‖₂ ≤ NND_k(φ') for at least one φ' ∈ Φ, else 0                         (eq. 1)
precision    (1/|Φ_g|) Σ_{φ_g ∈ Φ_g} f(φ_g, Φ_r): the share of generated vectors in the real manifold (eq. 2)
recall       (1/|Φ_r|) Σ_{φ_r ∈ Φ_r} f(φ_r, Φ_g): the share of real vectors in the generated manifold

Precision measures how many samples look real ("sharp"), recall how much of the real data the
samples cover ("diverse"): a collapsed sampler has high precision and low recall, a blurry one the
reverse. The paper uses k = 3. Distances are torch.cdist's √(‖a‖² + ‖b‖² - 2aᵀb) in float64 (a vector
lies ~1e-7 from a copy of itself, not 0, unless its values are small integers), a block of `chunk`
rows against a whole set at a time, so memory grows with chunk × max(N, M), never with N × M:
10,000 against 10,000 vectors of 128 features hold about 100 MB at the default chunk and take
about 15 s on one core.
"""

from __future__ import annotations

import torch
from torch import Tensor

K = 3  # the paper's neighbourhood size
CHUNK = 1_024  # rows of a distance block: 1,024 × 10,000 float64 distances are 80 MB


def knn_radii(x: Tensor, k: int = K, chunk: int = CHUNK) -> Tensor:
    """NND_k(φ) of every row φ of x (N, d): the distance to its k-th nearest neighbour among the other rows, (N,).

    A row's distance to itself is 0 (up to ~1e-7 of rounding), the smallest of its row of distances, so
    its k-th neighbour without itself is the (k + 1)-th smallest distance with itself."""
    if len(x) <= k:
        raise ValueError(f"a k-NN radius with k = {k} needs more than {k} vectors, got {len(x)}")
    x = x.double()
    return torch.cat([torch.cdist(rows, x).topk(k + 1, dim=1, largest=False).values[:, k] for rows in x.split(chunk)])


@torch.no_grad()
def precision_recall(real: Tensor, fake: Tensor, k: int = K, chunk: int = CHUNK) -> tuple[float, float]:
    """(precision, recall) of generated features `fake` (M, d) against real features `real` (N, d):
    the share of fake vectors inside the real manifold and of real vectors inside the fake one (module docstring).

    One pass over the M × N distances serves both: a block of fake rows against all real vectors
    decides those rows' precision and marks the real vectors inside their balls."""
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"precision_recall expects features (N, d) and (M, d), got {tuple(real.shape)} "
                         f"and {tuple(fake.shape)}")
    real, fake = real.double(), fake.double()
    radius_real, radius_fake = knn_radii(real, k, chunk), knn_radii(fake, k, chunk)  # (N,), (M,)
    fake_inside = 0
    real_inside = torch.zeros(len(real), dtype=torch.bool, device=real.device)  # (N,)
    for rows, radius_rows in zip(fake.split(chunk), radius_fake.split(chunk)):
        d = torch.cdist(rows, real)  # (chunk, N)
        fake_inside += int((d <= radius_real).any(1).sum())  # f(φ_g, Φ_r) of these rows
        real_inside |= (d <= radius_rows[:, None]).any(0)  # f(φ_r, these rows): a ball of this block holds φ_r
    return fake_inside / len(fake), float(real_inside.double().mean())
