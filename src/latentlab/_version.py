"""The package's version: a leaf, so that what records it (run.json) need not import the package."""

__version__ = "0.1.0"
