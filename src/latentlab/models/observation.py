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

    def log_px_given_z(self, decoder, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) for z (..., B, Z) and x (B, ...): one decoder pass over every leading dim; (..., B)."""
        params = decoder(z.reshape(-1, z.shape[-1])).view(*z.shape[:-1], -1)  # (..., B, D)
        return self.log_prob(x.flatten(1), params)

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
