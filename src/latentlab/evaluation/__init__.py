"""Evaluation: likelihood bounds under the protocols, published references, figure data."""
