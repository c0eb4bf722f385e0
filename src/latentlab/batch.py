"""The batch a model's loss receives. A leaf module: data/ builds batches, models/ consume them.

    Batch = dict[str, Tensor]
    "x": (B, ...) float32, the examples; optional "y": (B,) int64, their labels;
    "x_b": (B, ...) a second domain's examples (unpaired translation);
    "x_labelled", "y_labelled": the labelled stream of semi-supervised training.
"""

from __future__ import annotations

from torch import Tensor

Batch = dict[str, Tensor]
