"""Datasets: where they live, how they are fetched and verified, how they are read, and the one hand-off.

`prepare(config, data_dir, device, run)` returns a `Data`: the data of a config as the model sees
it (data/handoff.py); everything outside data/ takes its data from there. Inside: `data_root`
picks the folder, `locate` makes sure a dataset's files are there and intact, the `read_*`
functions decode the file formats, `load_images` reads a named image dataset, data/own.py the
user's own data, and the `cs236_*` functions pick the fixed subsets of the CS236 protocol.
"""

from __future__ import annotations

from latentlab.data.cs236 import cs236_label_subset, cs236_subset_description, cs236_test_pixels, cs236_test_subset
from latentlab.data.datasets import ImageData, load_binarized_mnist_valid, load_images
from latentlab.data.handoff import Data, prepare
from latentlab.data.readers import read_amat, read_frey, read_idx, read_olivetti, read_svhn
from latentlab.data.root import data_root
from latentlab.data.sources import SOURCES, locate

__all__ = [
    "SOURCES",
    "Data",
    "ImageData",
    "cs236_label_subset",
    "cs236_subset_description",
    "cs236_test_pixels",
    "cs236_test_subset",
    "data_root",
    "load_binarized_mnist_valid",
    "load_images",
    "locate",
    "prepare",
    "read_amat",
    "read_frey",
    "read_idx",
    "read_olivetti",
    "read_svhn",
]
