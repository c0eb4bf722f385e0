"""The observation model p(x|z) given a decoder's flat output: Bernoulli logits or a Gaussian mean.

Shared by every latent-variable model whose decoder emits one parameter per pixel (or feature).
The Gaussian's variance is fixed (x_var) or learned: one variance per dimension, a parameter
`x_logvar` (D,) initialised to log x_var, trained with the rest of the model by the ELBO.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from latentlab.probability import log_bernoulli_with_logits, log_normal

LIKELIHOODS = ("bernoulli", "gaussian")


class Observation(nn.Module):
    """p(x|z) = Bern(x; sigmoid(params)) or N(x; params, diag(var)), over flat (..., D) tensors;
    var = x_var·1 (fixed), or exp(x_logvar) with x_logvar (D,) learned when `learn_var`."""

    def __init__(self, likelihood: str, x_var: float, x_dim: int = 0, learn_var: bool = False):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if learn_var and (likelihood != "gaussian" or x_dim < 1):
            raise ValueError("a learned variance needs the Gaussian likelihood and the data's dimension x_dim")
        self.likelihood, self.x_var = likelihood, x_var
        self.x_logvar = nn.Parameter(torch.full((x_dim,), math.log(x_var))) if learn_var else None

    def var(self, params: Tensor) -> Tensor:
        """The Gaussian's variance: a scalar tensor (fixed) or (D,) (learned)."""
        return params.new_tensor(self.x_var) if self.x_logvar is None else self.x_logvar.exp()

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """log p(x|z), summed over pixels: (..., D) -> (...)."""
        if self.likelihood == "bernoulli":
            return log_bernoulli_with_logits(x, params)
        return log_normal(x, params, self.var(params))

    def log_px_given_z(self, decoder, x: Tensor, z: Tensor, y: Tensor | None = None) -> Tensor:
        """log p(x|z) (or log p(x|y, z) given one-hot labels y broadcastable to (..., B, Y)) for z (..., B, Z)
        and x (B, ...): one decoder pass over every leading dim; returns (..., B)."""
        if y is None:
            params = decoder(z.reshape(-1, z.shape[-1]))  # (N, D), N = every leading position
        else:
            y = y.expand(*z.shape[:-1], -1)  # (..., B, Y)
            params = decoder(z.reshape(-1, z.shape[-1]), y.reshape(-1, y.shape[-1]))  # (N, D)
        return self.log_prob(x.flatten(1), params.view(*z.shape[:-1], -1))  # (..., B)

    def mean(self, params: Tensor) -> Tensor:
        """E[x|z]: pixel probabilities for Bernoulli, the mean for Gaussian."""
        return torch.sigmoid(params) if self.likelihood == "bernoulli" else params

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw x ~ p(x|z)."""
        mean = self.mean(params)
        if self.likelihood == "bernoulli":
            return torch.bernoulli(mean, generator=generator)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        std = self.x_var**0.5 if self.x_logvar is None else (0.5 * self.x_logvar).exp()
        return mean + std * eps
