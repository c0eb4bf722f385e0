"""Datasets: where they live, how they are fetched and verified, how they are read.

`data_root` picks the folder, `locate` makes sure a dataset's files are there and intact,
the `read_*` functions decode the file formats, `load_images` returns a dataset as float32
tensors, and the `cs236_*` functions pick the fixed subsets of the CS236 protocol.
"""

from __future__ import annotations

from latentlab.data.cs236 import cs236_label_subset, cs236_subset_description, cs236_test_pixels, cs236_test_subset
from latentlab.data.datasets import ImageData, load_binarized_mnist_valid, load_images
from latentlab.data.readers import read_amat, read_frey, read_idx, read_olivetti, read_svhn
from latentlab.data.root import data_root
from latentlab.data.sources import SOURCES, locate

__all__ = [
    "SOURCES",
    "ImageData",
    "cs236_label_subset",
    "cs236_subset_description",
    "cs236_test_pixels",
    "cs236_test_subset",
    "data_root",
    "load_binarized_mnist_valid",
    "load_images",
    "locate",
    "read_amat",
    "read_frey",
    "read_idx",
    "read_olivetti",
    "read_svhn",
]
