"""The figures of a trained model: computes the tensors through the model's capabilities
(Decoder, Encoder, a latent prior) and hands them to viz/, which draws them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from latentlab.data.handoff import Data
from latentlab.files import make_dir
from latentlab.models.base import (ConditionalDecoder, ConditionalFittedPrior, Decoder, Encoder, GenerativeModel,
                                   LatentPrior, NoiseConditionalScore, Translator)
from latentlab.run.metrics import read_metrics
from latentlab.viz import figures as fig


MANIFOLD_RANGE = (-3.0, 3.0)  # the latent plane of the figures (and of the report's explorer): [-3, 3]²


def example_indices(n_test: int, y: Tensor | None, n: int) -> Tensor:
    """Indices of n test examples, spread over the labels when there are labels (the first of each class first)."""
    if y is None:
        return torch.arange(min(n, n_test))
    order = torch.argsort(y * len(y) + torch.arange(len(y), device=y.device))  # by label, stable
    per_class = [order[y[order] == c] for c in torch.unique(y)]
    take = min(-(-n // len(per_class)), min(len(p) for p in per_class))  # as many of each class
    return torch.stack([p[:take] for p in per_class], 1).flatten()[:n]


@torch.no_grad()
def draw_all(model: GenerativeModel, data: Data, out: Path, metrics_path: Path | None = None,
             seed: int = 0) -> list[Path]:
    """Every figure that applies to `model` on the test set of `data`, written into `out`; returns their paths.

    2-D points of a generated distribution give a score model its sample, field and path figures.
    A table (N, D) gets real-against-generated figures per feature and in pairs, in the original
    units (undoing a standardisation) and under its column names.
    """
    make_dir(out)
    test_x, test_y = data.test_x, data.test_y
    if data.kind == "table":
        paths = table_figures(model, test_x, out, seed, data.feature_mean, data.feature_std, data.columns)
        if metrics_path is not None and metrics_path.exists() and (records := read_metrics(metrics_path)):
            paths.append(fig.loss_curves(records, out / "loss_curves.png"))
        return paths
    if isinstance(model, NoiseConditionalScore) and data.kind == "points":
        from latentlab.evaluation.score_fields import score_figures

        paths = score_figures(model, data.name, out, seed=seed, label=type(model).__name__)
    else:
        paths = []
    g = torch.Generator(device=test_x.device).manual_seed(seed)
    if isinstance(model, Decoder) and isinstance(model, LatentPrior):
        z = model.sample_z(200, generator=g)
        probs = model.decode(z).clamp(0, 1)
        draws = model.sample_x_given_z(z, generator=g).clamp(0, 1)
        paths.append(fig.sample_grid(probs.cpu(), draws.cpu(), out / "samples.png", likelihood=likelihood_of(model)))
    elif isinstance(model, Translator):  # image-to-image: x -> G(x) -> F(G(x)) and y -> F(y) -> G(F(y))
        paths.append(translation_rows(model, data.domains("test"), out / "translations.png"))
    elif data.kind == "images" and not isinstance(model, ConditionalDecoder):  # images without a decoder: a GAN
        paths.append(fig.sample_grid(model.sample(200, generator=g).clamp(0, 1).cpu(), None, out / "samples.png"))
    if isinstance(model, ConditionalDecoder) and isinstance(model, (LatentPrior, ConditionalFittedPrior)):
        paths.append(conditional_grid(model, out / "conditional_samples.png", g))
    if isinstance(model, Encoder) and isinstance(model, Decoder):
        x = test_x[example_indices(len(test_x), test_y, 40)]
        q_mean, _ = model.encode(x)
        paths.append(fig.reconstructions(x.cpu(), model.decode(q_mean).clamp(0, 1).cpu(), out / "reconstructions.png"))
        alphas = [i / 10 for i in range(11)]
        za, zb = q_mean[0:20:2][:5], q_mean[1:20:2][:5]  # five pairs of different digits (fewer for tiny test sets)
        za = za[: len(zb)]
        a = torch.tensor(alphas, device=x.device).view(1, -1, 1)
        path_z = (1 - a) * za[:, None] + a * zb[:, None]  # (P, 11, Z)
        rows = model.decode(path_z.flatten(0, 1)).clamp(0, 1).view(len(za), 11, *x.shape[1:])
        if len(za):
            paths.append(fig.interpolation(rows.cpu(), out / "interpolation.png", alphas))
        if q_mean.shape[-1] == 2:
            paths += _latent_plane(model, test_x, test_y, out)
    if metrics_path is not None and metrics_path.exists():
        records = read_metrics(metrics_path)
        if records:
            paths.append(fig.loss_curves(records, out / "loss_curves.png"))
    return paths


def likelihood_of(model) -> str:
    """The decoder's observation model, "bernoulli" or "gaussian" (models without a decoder: "bernoulli")."""
    return model.likelihood if isinstance(model, (Decoder, ConditionalDecoder)) else "bernoulli"


def translation_rows(model: Translator, domains: tuple[Tensor, Tensor], path: Path, n: int = 6) -> Path:
    """The first n test images of each domain (X, Y), each row an image through both generators and
    back: x, G(x), F(G(x)) beside y, F(y), G(F(y)) (Zhu et al. 2017, Fig. 1 and 10)."""
    m = min(n, *(len(d) for d in domains))
    if m == 0:
        raise ValueError("translation_rows needs test images of both domains")
    x, y = domains[0][:m], domains[1][:m]
    G_x, F_y = model.translate(x=x), model.translate(x_b=y)
    forward = torch.stack([x, G_x, model.translate(x_b=G_x)], 1)  # (m, 3, C, H, W)
    backward = torch.stack([y, F_y, model.translate(x=F_y)], 1)
    return fig.image_rows([("x,  G(x),  F(G(x))", forward.cpu()), ("y,  F(y),  G(F(y))", backward.cpu())],
                          [str(i + 1) for i in range(m)], path)


def table_figures(model: GenerativeModel, test_x: Tensor, out: Path, seed: int, mean: Tensor | None,
                  std: Tensor | None, columns: tuple[str, ...] = ()) -> list[Path]:
    """features.png (a histogram per feature) and pairs.png (the first four features in pairs): the
    test rows against samples x ~ p(x) (at least 1,000), un-standardised with `mean`, `std` when given,
    each feature titled by its column name where the table has them."""
    from latentlab.viz.tables import feature_histograms, pair_scatter

    g = torch.Generator(device=test_x.device).manual_seed(seed)
    n = max(len(test_x), 1000)  # enough samples for smooth histograms however small the test set
    generated = model.sample(n, generator=g).reshape(n, -1)  # (n, D)
    real = test_x
    if mean is not None:
        real, generated = real * std + mean, generated * std + mean
    return [feature_histograms(real, generated, out / "features.png", columns),
            pair_scatter(real, generated, out / "pairs.png", columns)]


def conditional_grid(model, path: Path, generator: torch.Generator, n_z: int = 20) -> Path:
    """The style/content grid of a label-conditional decoder: row i = label i, column j = a shared
    z_j ~ p(z), each cell E[x|y=i, z_j] clipped to [0, 1] (CS236 homework 2, FSVAE). A prior per label
    (ConditionalFittedPrior) draws each row's own z_ij ~ p(z|y=i) instead."""
    n_y = model.n_classes
    if isinstance(model, ConditionalFittedPrior):
        y = torch.arange(n_y, device=model.fit_s.device).repeat_interleave(n_z)  # (Y·S,) row-major
        z = model.sample_z_given_y(y, generator)  # (Y·S, Z)
        title = r"$\mathbb{E}[x \mid y, z]$: row = label $y$, each $z \sim p(z \mid y)$ of the fitted prior"
    else:
        z = model.sample_z(n_z, generator=generator)  # (S, Z)
        y = torch.arange(n_y, device=z.device).repeat_interleave(n_z)  # (Y·S,) row-major
        z = z.repeat(n_y, 1)  # (Y·S, Z): z_j in every row
        title = rf"$\mathbb{{E}}[x \mid y, z_j]$: row = label $y$, column = one shared $z_j \sim p(z)$"
    means = model.decode_given_y(z, y).clamp(0, 1)  # (Y·S, C, H, W)
    return fig.image_rows([(title, means.view(n_y, n_z, *means.shape[1:]).cpu())],
                          [f"y = {i}" for i in range(n_y)], path)


def _latent_plane(model, test_x: Tensor, test_y: Tensor | None, out: Path) -> list[Path]:
    """For a 2-D latent: the decoded manifold over MANIFOLD_RANGE² and the encoded test set."""
    grid = torch.linspace(*MANIFOLD_RANGE, 20, device=test_x.device)
    z2, z1 = torch.meshgrid(grid.flip(0), grid, indexing="ij")  # row 0 = highest z2
    images = model.decode(torch.stack([z1, z2], -1).view(-1, 2)).clamp(0, 1)
    codes = torch.cat([model.encode(xb)[0] for xb in test_x.split(1000)])
    return [
        fig.latent_manifold(images.cpu(), out / "latent_manifold.png", MANIFOLD_RANGE),
        fig.latent_scatter(codes.cpu(), None if test_y is None else test_y.cpu(), out / "latent_scatter.png",
                           title="q(z|x) means of the test set"),
    ]
