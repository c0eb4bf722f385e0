"""Training: the loop (trainer.py) and its checkpoints (checkpoint.py)."""
