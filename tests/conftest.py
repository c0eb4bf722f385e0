"""Shared fixtures: the data root (real datasets when present) and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def real_data_root() -> Path | None:
    for root in (os.environ.get("LATENTLAB_DATA"), SHARED):
        if root and (Path(root) / "mnist" / "train-images-idx3-ubyte.gz").exists():
            return Path(root)
    return None


@pytest.fixture
def data_root() -> Path:
    root = real_data_root()
    if root is None:
        pytest.skip("MNIST is not on this machine (set LATENTLAB_DATA)")
    return root


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """One intra-op thread for small tensors: a second OpenMP thread only adds barrier waits
    (seconds per test on a loaded 2-core CPU). Restores the count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
