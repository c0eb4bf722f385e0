"""A diffusion model over a trained model's codes, used as its prior: latent diffusion (Rombach et al. 2022,
"High-resolution image synthesis with latent diffusion models", §3 and App. D.1; Vahdat et al. 2021, LSGM).

The codes are scaled to unit variance by one global factor, as LDM does (its scale_factor = 1/std of the
first batch of codes, App. D.1), and models/ddpm.py's DDPM with the MLP denoiser (net = "mlp") is trained
on s·z (Ho et al. 2020, L_simple, eq. 14):
    s = 1 / std(z_first batch)   (one number over every coordinate; kept as a buffer: the checkpoint records it)
    x_0 = s·z,  x_0 ~ p_θ by the ancestral sampler (Ho et al. 2020, Algorithm 2) or DDIM (Song et al. 2021,
    eq. 12),  z = x_0 / s.
It gives samples, not a density: no likelihood bound uses it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from latentlab.models.ddpm import DDPM, DDPMConfig


class DiffusionPrior(nn.Module):
    """DDPM on s·z with an MLP ε_θ of `blocks` residual layers of width `hidden` on the codes alone (no Fourier
    features), T = `timesteps`, sampled by `sampler` ("ancestral", or "ddim" in `ddim_steps` with `ddim_eta`);
    x̂_0 is clipped to the box of the scaled training codes (models/ddpm.py)."""

    def __init__(self, z_dim: int, *, timesteps: int, hidden: int, blocks: int, sampler: str, ddim_steps: int,
                 ddim_eta: float = 1.0):
        super().__init__()
        config = DDPMConfig(timesteps=timesteps, net="mlp", hidden=hidden, blocks=blocks, x_freqs=0, sampler=sampler,
                            ddim_steps=ddim_steps, ddim_eta=ddim_eta)
        self.ddpm = DDPM(config, (z_dim,))
        self.register_buffer("scale", torch.zeros(()))  # s; 0 until the first batch of codes is seen

    def loss(self, z: Tensor) -> dict[str, Tensor]:
        """L_simple on x_0 = s·z; the first call sets s = 1/std(z)."""
        if float(self.scale) == 0.0:
            self.scale.fill_(1.0 / float(z.std().clamp_min(1e-8)))
        terms = self.ddpm.loss({"x": z * self.scale}, "model")
        return {"eps_mse": terms["eps_mse"]}

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z = x_0 / s, x_0 ~ p_θ by the config's sampler; (n, Z)."""
        return self.ddpm.sample(n, generator=generator) / self.scale
