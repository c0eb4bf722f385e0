"""Training: the loop (trainer.py), several processes (distributed.py), EMA weights, stop requests and
TensorBoard; the run directory it writes into is handed to it (its format is run/'s)."""
