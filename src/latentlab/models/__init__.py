"""Models: base.py holds the contract; one file per model."""
