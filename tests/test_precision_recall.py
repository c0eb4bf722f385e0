"""Improved precision and recall (Kynkäänniemi et al. 2019): known answers on constructed point sets, and
the chunked implementation against a brute-force reading of the definition."""

import pytest
import torch

from latentlab.evaluation.precision_recall import knn_radii, precision_recall


def brute_force(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    """The definition read literally, one vector at a time, in float64."""
    real, fake = real.double(), fake.double()

    def radii(x):  # distance to the k-th nearest neighbour among the other vectors
        return [sorted(float((x[i] - x[j]).norm()) for j in range(len(x)) if j != i)[k - 1] for i in range(len(x))]

    def inside(v, x, r):  # f(v, Φ): some ball of the manifold holds v
        return any(float((v - x[j]).norm()) <= r[j] for j in range(len(x)))

    r_real, r_fake = radii(real), radii(fake)
    precision = sum(inside(v, real, r_real) for v in fake) / len(fake)
    recall = sum(inside(v, fake, r_fake) for v in real) / len(real)
    return precision, recall


def integer_points(n: int, d: int, seed: int) -> torch.Tensor:
    """n distinct vectors of small integers: their distances ‖a‖² + ‖b‖² - 2aᵀb are exact in float64, so a
    vector's distance to a copy of itself is exactly 0 (with other values it is ~1e-7, and a tie at 0 is a coin toss)."""
    x = torch.randint(-5, 6, (n, d), generator=torch.Generator().manual_seed(seed)).double()
    assert len(x.unique(dim=0)) == n
    return x


def test_identical_sets_cover_each_other():
    x = integer_points(200, 16, seed=0)
    assert precision_recall(x, x.clone()) == (1.0, 1.0)
    y = torch.randn(200, 16, generator=torch.Generator().manual_seed(0))  # any values: d(φ, φ) ≈ 0 < every radius
    assert precision_recall(y, y.clone()) == (1.0, 1.0)


def test_a_collapsed_sampler_is_precise_and_covers_one_point():
    real = integer_points(300, 8, seed=1)
    fake = real[7].expand(500, 8).clone()  # every sample is the same real image
    precision, recall = precision_recall(real, fake)
    assert precision == 1.0  # each sample sits on a real vector, inside its ball
    assert recall == 1 / 300  # the samples' balls have radius 0: they hold only that one real vector


def test_far_apart_sets_share_nothing():
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(150, 4, generator=g), torch.randn(120, 4, generator=g) + 100.0
    assert precision_recall(real, fake) == (0.0, 0.0)


def test_a_hand_computed_case_on_a_line():
    real = torch.arange(10.0)[:, None]  # 0, 1, ..., 9: with k = 1 every radius is 1
    fake = torch.tensor([[0.5], [10.5], [30.0]])
    assert torch.equal(knn_radii(real, k=1), torch.ones(10, dtype=torch.float64))
    assert torch.equal(knn_radii(fake, k=1), torch.tensor([10.0, 10.0, 19.5], dtype=torch.float64))
    assert precision_recall(real, fake, k=1) == (1 / 3, 1.0)  # only 0.5 lies within 1 of a real point; the
    # ball of radius 10 around 0.5 holds all of 0..9
    assert torch.equal(knn_radii(real, k=2), torch.tensor([2.0] + [1.0] * 8 + [2.0], dtype=torch.float64))
    assert precision_recall(real, fake, k=2) == (2 / 3, 1.0)  # 10.5 is 1.5 from 9, whose radius is now 2


@pytest.mark.parametrize("chunk", [1, 7, 1_024])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_chunked_equals_the_definition_on_random_data(k, chunk):
    g = torch.Generator().manual_seed(10 * k + chunk)
    real = torch.randn(60, 5, generator=g)
    fake = 0.7 * torch.randn(45, 5, generator=g) + 1.2  # narrower and shifted: both shares strictly inside (0, 1)
    expected = brute_force(real, fake, k)
    assert 0.0 < expected[0] < 1.0 and 0.0 < expected[1] < 1.0
    assert precision_recall(real, fake, k=k, chunk=chunk) == expected


def test_bad_shapes_and_too_few_vectors_are_refused():
    with pytest.raises(ValueError, match="needs more than 3 vectors, got 3"):
        precision_recall(torch.randn(3, 2), torch.randn(10, 2))
    with pytest.raises(ValueError, match=r"features \(N, d\) and \(M, d\)"):
        precision_recall(torch.randn(10, 2), torch.randn(10, 3))
