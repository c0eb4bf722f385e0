"""Test accuracy of the semi-supervised VAE's classifier q(y|x) at every checkpoint of its runs.

The protocol reads the accuracy once, after 30,000 iterations. This script reads it at every
saved checkpoint (the presets save every 5,000), on the same 10,000 grey test images, to show
how far each seed is from its plateau and how the seeds spread along the way.

    python bench/ssvae_checkpoints.py runs/ssvae-gw1-s0 runs/ssvae-gw1-s1 [--out FILE]

writes bench/results/ssvae_checkpoints.json (or --out) and prints one line per run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from latentlab.data.handoff import prepare
from latentlab.errors import UserError
from latentlab.evaluation.bound_protocols import accuracy
from latentlab.models.ssvae import SSVAE
from latentlab.run import Run


def accuracy_per_checkpoint(run: str) -> dict[int, float]:
    """{step: test accuracy (%)} over the run's checkpoints, oldest first."""
    run = Run.open(run)
    model = run.load_model("cpu")
    if not isinstance(model, SSVAE):
        raise UserError(f"{run.path} holds a {type(model).__name__}, not an SSVAE: give cs236_ssvae runs")
    data = prepare(run.config, device="cpu")
    return {step: accuracy(run.load_model("cpu", checkpoint=path), data.test_x, data.test_y, 2000)
            for step, path in run.checkpoints().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories of trained SSVAE models")
    parser.add_argument("--out", default="bench/results/ssvae_checkpoints.json")
    args = parser.parse_args(argv)
    curves = {}
    try:
        for run in args.runs:
            curves[run] = accuracy_per_checkpoint(run)
            print(f"{run}: " + ", ".join(f"step {s} {a:.2f} %" for s, a in curves[run].items()), flush=True)
    except UserError as e:
        print(f"ssvae_checkpoints: {e}", file=sys.stderr)
        return 2
    record = {"torch": torch.__version__, "runs": curves}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
