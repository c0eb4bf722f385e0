"""Two translators that learn no shape or texture, scored beside a trained one by the translation protocol
(evaluation/translation_metrics.py): a metric that a trained translator beats and these do not is one whose
numbers can be believed.

identity          G(x) = x, F(y) = y: its success is the judge's error on untranslated images
colour transfer   each colour channel's mean and standard deviation moved to the other domain's, fitted on
                  the training images of both domains (as the model sees them, centre-cropped):
                      G(x)_c = clamp((x_c - μ_X,c) / σ_X,c · σ_Y,c + μ_Y,c, 0, 1)
                      F(y)_c = clamp((y_c - μ_Y,c) / σ_Y,c · σ_X,c + μ_X,c, 0, 1)
                  for each channel c, with μ and σ over all pixels of all training images of a domain.
                  Reinhard et al. 2001 ("Color transfer between images") match these statistics in the
                  decorrelated lαβ space and per image; here they are matched per RGB channel and per
                  domain, the simplest translator that changes the colours of a whole domain.

Both answer `translate(x=...)` (G) and `translate(x_b=...)` (F) with pixels in [0, 1], as CycleGAN does.
"""

from __future__ import annotations

import torch
from torch import Tensor

from latentlab.data.handoff import Data


class IdentityTranslator:
    """G(x) = x and F(y) = y: the images themselves."""

    def translate(self, x: Tensor | None = None, x_b: Tensor | None = None) -> Tensor:
        if (x is None) == (x_b is None):
            raise ValueError("translate takes exactly one of x (domain X) and x_b (domain Y)")
        return x if x is not None else x_b


@torch.no_grad()
def channel_statistics(images: Tensor, chunk: int = 256) -> tuple[Tensor, Tensor]:
    """Each channel's mean μ_c and standard deviation σ_c (population) over every pixel of images (N, C, H, W)
    (uint8 or float in [0, 1]; read in chunks, summed in float64), as (C, 1, 1) float32 tensors."""
    total = squares = 0.0
    for xb in images.split(chunk):
        xb = xb.to(torch.float64) / (255.0 if xb.dtype == torch.uint8 else 1.0)
        total = total + xb.sum(dim=(0, 2, 3))
        squares = squares + xb.square().sum(dim=(0, 2, 3))
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / n
    sd = (squares / n - mean.square()).clamp_min(0).sqrt()
    return mean.float()[:, None, None], sd.float()[:, None, None]


class ColourTransfer:
    """G(x)_c = clamp((x_c - μ_X,c) / σ_X,c · σ_Y,c + μ_Y,c, 0, 1) and F the other way round, per channel c
    (the statistics as channel_statistics returns them, (C, 1, 1) each)."""

    def __init__(self, mean_X: Tensor, sd_X: Tensor, mean_Y: Tensor, sd_Y: Tensor, eps: float = 1e-6):
        self.mean_X, self.mean_Y = mean_X, mean_Y
        self.sd_X, self.sd_Y = sd_X.clamp_min(eps), sd_Y.clamp_min(eps)  # a constant channel: no division by 0

    @classmethod
    def fitted(cls, data: Data) -> ColourTransfer:
        """The transfer fitted on the training images of both domains of `data`, as the model sees them."""
        x, y = data.domains("train")
        return cls(*channel_statistics(data.centred(x)), *channel_statistics(data.centred(y)))

    def translate(self, x: Tensor | None = None, x_b: Tensor | None = None) -> Tensor:
        if (x is None) == (x_b is None):
            raise ValueError("translate takes exactly one of x (domain X) and x_b (domain Y)")
        if x is not None:
            return self.move(x, self.mean_X, self.sd_X, self.mean_Y, self.sd_Y)
        return self.move(x_b, self.mean_Y, self.sd_Y, self.mean_X, self.sd_X)

    @staticmethod
    def move(images: Tensor, mean_from: Tensor, sd_from: Tensor, mean_to: Tensor, sd_to: Tensor) -> Tensor:
        d = images.device
        return ((images - mean_from.to(d)) / sd_from.to(d) * sd_to.to(d) + mean_to.to(d)).clamp(0, 1)


def trivial_translators(data: Data) -> dict:
    """{"identity": IdentityTranslator, "colour_transfer": ColourTransfer fitted on data's training domains}."""
    return {"identity": IdentityTranslator(), "colour_transfer": ColourTransfer.fitted(data)}
