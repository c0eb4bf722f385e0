"""The batch a model's loss receives, and the stream the trainer draws batches from. A leaf module:
data/ builds batches and streams, models/ consume batches, training/ draws from a stream.

    Batch = dict[str, Tensor]
    "x": (B, ...) float32, the examples; optional "y": (B,) int64, their labels;
    "x_b": (B, ...) a second domain's examples (unpaired translation);
    "x_labelled", "y_labelled": the labelled stream of semi-supervised training.
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor

Batch = dict[str, Tensor]


class BatchStream(Protocol):
    """What the trainer asks of its batches: the next one, and a state that a checkpoint keeps so that a
    resumed run draws the same batches an uninterrupted one would (data/batcher.py, unpaired.py, labelled.py)."""

    def next(self) -> Batch: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...
