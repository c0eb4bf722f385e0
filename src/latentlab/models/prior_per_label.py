"""One post-hoc prior per label, p(z|y), for a conditional parent: each fitted on the codes of its label's images.

For a conditional VAE (Sohn et al. 2015) with encoder q(z|x, y) and decoder p(x|y, z), the ELBO of an image
of label y with a prior p(z|y) in place of N(0, I),
    ELBO(x|y) = E_q(z|x,y)[log p(x|y, z)] - KL(q(z|x, y) || p(z|y)),
averaged over the images of label y, is for the fixed encoder and decoder a function of p(z|y) through
    E_{x|y} KL(q(z|x, y) || p(z|y)) = I_q(x; z | y) + KL(q(z|y) || p(z|y)),   q(z|y) = E_{x|y} q(z|x, y)
(Hoffman & Johnson 2016, "ELBO surgery", with y held fixed): the best p(z|y) is the aggregate posterior
of the label, q(z|y). So each label gets a prior of its own kind (a mixture, a two-stage VAE, a latent DDPM:
models/latent_prior.py), fitted on the codes z_n ~ q(z|x_n, y_n) of the images with y_n = y alone:
    p(z|y) = p_{ψ_y}(z),  ψ_y fitted on {z_n : y_n = y}.
The priors are an nn.ModuleList indexed by y. A batch's loss is Σ_y (B_y / B) · loss_y(its B_y rows), the
batch mean when each label's loss is its own rows' mean, as for one prior; each named term is weighted alike.
The mixtures are fitted by EM per label (K = min(components, B_y)). A label without codes keeps its prior
untrained (the mixture: N(0, I)).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PerLabel(nn.Module):
    """p(z|y) = priors[y](z) for int labels y in 0..len(priors)-1 (module docstring)."""

    def __init__(self, priors: list[nn.Module]):
        super().__init__()
        self.priors = nn.ModuleList(priors)

    def _rows(self, y: Tensor):
        """(label, the indices of its rows) for each label present in y (B,), in label order."""
        for label in range(len(self.priors)):
            rows = (y == label).nonzero().squeeze(1)
            if len(rows):
                yield label, rows

    def loss(self, z: Tensor, y: Tensor, terms) -> dict[str, Tensor]:
        """Σ_y (B_y / B) · terms(priors[y], codes of label y) for codes z (B, Z): `terms(prior, z)` gives each
        prior's loss and named terms (latent_prior.prior_terms)."""
        total: dict[str, Tensor] = {}
        for label, rows in self._rows(y):
            for name, value in terms(self.priors[label], z[rows]).items():
                total[name] = total.get(name, 0.0) + value * (len(rows) / len(z))
        return total

    @torch.no_grad()
    def fit(self, z: Tensor, y: Tensor, *, k: int, select_by_bic: bool, seed: int) -> None:
        """The mixtures: EM on each label's codes (GaussianMixturePrior.fit), K at most the label's count."""
        for label, rows in self._rows(y):
            self.priors[label].fit(z[rows], k=min(k, len(rows)), select_by_bic=select_by_bic, seed=seed)

    def sample(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One z ~ p(z|y_n) per label y_n of y (N,), drawn label by label in label order; (N, Z)."""
        z = None
        for label, rows in self._rows(y):
            drawn = self.priors[label].sample(len(rows), generator)
            z = z if z is not None else drawn.new_empty(len(y), drawn.shape[-1])
            z[rows] = drawn
        return z

    def log_prob(self, z: Tensor, y: Tensor, density) -> Tensor:
        """density(priors[y_n], z_n) for z (..., N, Z) and labels y (N,): returns (..., N). `density(prior, z)`
        is log p(z) of one prior (exact or a bound) for z (..., M, Z)."""
        out = z.new_empty(z.shape[:-1])
        for label, rows in self._rows(y):
            out[..., rows] = density(self.priors[label], z[..., rows, :])
        return out
