"""The exponential moving average of a model's weights (Polyak averaging).

θ_ema ← d·θ_ema + (1 − d)·θ after every iteration, over the parameters and the float buffers;
evaluation and sampling use θ_ema when train.ema > 0. Polyak & Juditsky 1992; for generative
models, Karras et al. 2018 (progressive GANs) and Song & Ermon 2020, technique 5.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def ema_start(model: nn.Module) -> dict[str, Tensor]:
    """θ_ema at step 0: a copy of the model's float tensors, by state-dict key."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


@torch.no_grad()
def ema_update(ema: dict[str, Tensor], model: nn.Module, decay: float) -> None:
    """θ_ema ← decay·θ_ema + (1 − decay)·θ, in place."""
    current = model.state_dict()
    keys = list(ema)
    torch._foreach_lerp_([ema[k] for k in keys], [current[k] for k in keys], 1.0 - decay)
