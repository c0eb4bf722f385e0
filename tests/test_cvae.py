"""The conditional VAE against log p(x|y), and the label/style grid of conditional decoders."""

import math

import pytest
import torch

from latentlab.errors import UserError
from latentlab.evaluation import figures
from latentlab.models.cvae import CVAE, CVAEConfig
from latentlab.probability import log_normal


def test_elbo_is_below_log_p_x_given_y_by_importance_sampling():
    torch.manual_seed(0)
    model = CVAE(CVAEConfig(z_dim=2, n_classes=3, hidden=8, x_var=0.1), (1, 2, 2))
    x, y = torch.rand(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        model.encoder.net[-1].bias[:2] += 1.0  # q(z|x,y) means shifted by 1: a clear gap to the posterior
        # log p(x|y) by importance sampling: log (1/K) Σ p(x|y,z_k) p(z_k) / q(z_k|x,y), K = 200,000
        log_px = model.log_likelihood_bound_given_y(x, y, 200_000)
        # and by quadrature over z ∈ [-7, 7]², a 561 × 561 grid: the two must agree
        grid = torch.linspace(-7, 7, 561)
        z = torch.cartesian_prod(grid, grid)[:, None].expand(-1, 6, -1)  # (G, B, Z)
        log_joint = model.log_px_given_yz(x, y, z) + log_normal(z, torch.zeros(2), torch.ones(2))  # (G, B)
        quadrature = torch.logsumexp(log_joint, 0) + 2 * math.log(float(grid[1] - grid[0]))
        elbo = -torch.stack([model.negative_elbo_terms(x, y)[0] for _ in range(2000)]).mean(0)
    torch.testing.assert_close(log_px, quadrature, atol=0.1, rtol=0)  # measured: within 0.06
    gap = log_px - elbo  # = KL(q(z|x,y) || p(z|x,y)) >= 0; measured 0.5-1.5 here, MC noise ~0.02
    assert torch.all(gap > 0.3), gap


def test_gaussian_decoder_has_the_fixed_variance():
    model = CVAE(CVAEConfig(z_dim=2, n_classes=3, hidden=8, x_var=0.1), (1, 2, 2))
    x, y, z = torch.rand(4, 1, 2, 2), torch.tensor([0, 1, 2, 1]), torch.randn(4, 2)
    mean = model.decode_given_y(z, y).flatten(1)
    torch.testing.assert_close(model.log_px_given_yz(x, y, z), log_normal(x.flatten(1), mean, torch.tensor(0.1)))
    torch.testing.assert_close(log_normal(torch.zeros(1), torch.zeros(1), torch.tensor(0.1)),
                               torch.tensor(-0.5 * math.log(2 * math.pi * 0.1)))


def test_the_label_changes_the_output_and_labels_are_required():
    model = CVAE(CVAEConfig(z_dim=2, n_classes=3, hidden=8), (1, 2, 2))
    z = torch.randn(1, 2).expand(3, 2)
    out = model.decode_given_y(z, torch.arange(3))
    assert not torch.allclose(out[0], out[1])
    with pytest.raises(UserError, match="needs labels"):
        model.loss({"x": torch.rand(2, 1, 2, 2)}, "model")


def test_conditional_grid_rows_are_labels_and_columns_share_z(monkeypatch, tmp_path):
    class Fake:
        n_classes = 10

        def sample_z(self, n, generator=None):
            return torch.arange(n, dtype=torch.float32)[:, None]  # z_j = j

        def decode_given_y(self, z, y):  # every pixel = y/20 + z/1000
            return (y[:, None] / 20 + z / 1000).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)

    drawn = {}
    monkeypatch.setattr(figures.fig, "image_rows", lambda panels, labels, path: drawn.update(
        panels=panels, labels=labels) or path)
    figures.conditional_grid(Fake(), tmp_path / "grid.png", torch.Generator())
    (_, grid), = drawn["panels"]
    assert grid.shape == (10, 20, 1, 2, 2) and drawn["labels"][3] == "y = 3"
    expected = torch.arange(10)[:, None] / 20 + torch.arange(20)[None] / 1000  # (label, column)
    torch.testing.assert_close(grid[:, :, 0, 0, 0], expected)
