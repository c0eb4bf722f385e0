"""The history of generated images a discriminator is trained on. Shrivastava et al. 2017, §2.3;
Zhu et al. 2017, §4 ("an image buffer that stores the 50 previously created images").

Until the pool holds `size` images, each new image is stored and returned. Once it is full,
each new image is returned with probability ½; otherwise a uniformly chosen stored image is
returned in its place and the new one takes its slot. The draws come from the pool's own CPU
torch.Generator; its state, the stored images and their count are part of `state_dict`, so a
resumed run continues with the same history and the same draws.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class HistoryPool(nn.Module):
    """A pool of up to `size` images of shape x_shape; size = 0 returns every image unchanged."""

    def __init__(self, x_shape: tuple[int, ...], size: int = 50, seed: int = 0):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *x_shape))  # (size, C, H, W); the first `count` are valid
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))
        self.generator = torch.Generator().manual_seed(seed)
        self.register_buffer("rng_state", self.generator.get_state())  # mirrors the generator (uint8)

    @torch.no_grad()
    def query(self, x: Tensor) -> Tensor:
        """The batch the discriminator sees in place of x, (B, C, H, W); updates the pool."""
        if self.size == 0:
            return x
        x = x.detach()
        out = x.clone()
        count = int(self.count)
        u = torch.rand(len(x), generator=self.generator)  # (B,): return the new image where u < ½
        slot = torch.randint(self.size, (len(x),), generator=self.generator)  # (B,): whom it replaces otherwise
        for i in range(len(x)):  # in order: an image stored at i may be returned at i + 1
            if count < self.size:
                self.images[count] = x[i]
                count += 1
            elif u[i] >= 0.5:
                j = int(slot[i])
                out[i] = self.images[j]
                self.images[j] = x[i]
        self.count.fill_(count)
        self.rng_state.copy_(self.generator.get_state())
        return out

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.generator.set_state(self.rng_state.cpu())
