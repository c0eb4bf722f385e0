"""The observation model p(x|z) given a decoder's flat output: Bernoulli logits or a Gaussian mean.

Shared by every latent-variable model whose decoder emits one parameter per pixel.
"""

from __future__ import annotations

import torch
from torch import Tensor

from latentlab.probability import log_bernoulli_with_logits, log_normal

LIKELIHOODS = ("bernoulli", "gaussian")


class Observation:
    """p(x|z) = Bern(x; sigmoid(params)) or N(x; params, x_var·I), over flat (..., D) tensors."""

    def __init__(self, likelihood: str, x_var: float):
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.likelihood, self.x_var = likelihood, x_var

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """log p(x|z), summed over pixels: (..., D) -> (...)."""
        if self.likelihood == "bernoulli":
            return log_bernoulli_with_logits(x, params)
        return log_normal(x, params, params.new_tensor(self.x_var))

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
        return mean + self.x_var**0.5 * eps
