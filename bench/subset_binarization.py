"""How much do the CS236 subset's bounds owe to its one static binarization?

The protocol evaluates on 100 test images binarized once (NumPy legacy generator, seed 0).
For each trained run given, this script computes the subset NELBO and -IWAE-1000 on
  - the protocol's draw (seed 0),
  - the draw of the CS236 starter code (`torch.manual_seed(0); torch.bernoulli(x)`; it depends
    on torch's CPU generator, so other torch versions may draw differently),
  - `--draws` other NumPy draws (seeds 1..N) of the same grey images: their mean ± sd is the
    spread a reference number carries from the draw alone.

    python bench/subset_binarization.py runs/demo1 runs/gmvae [--draws 20] [--repeats 20]

writes bench/results/subset_binarization.json (or --out) and prints one line per run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

from latentlab.data.cs236 import cs236_test_pixels, cs236_test_subset
from latentlab.data.handoff import prepare
from latentlab.errors import UserError
from latentlab.evaluation.likelihood import iwae, mean_loss_terms
from latentlab.models.base import LikelihoodBound
from latentlab.run import Run


def bounds_on(model, x: torch.Tensor, repeats: int, k: int = 1000) -> dict[str, float]:
    """Subset NELBO (mean over `repeats` passes) and -IWAE-k (one pass), nats."""
    torch.manual_seed(1)  # the same sampling noise for every draw
    return {"nelbo": mean_loss_terms(model, x, repeats, 100)["nelbo"], f"-iwae_{k}": -iwae(model, x, k, 1, 10_000)}


def run_sensitivity(run: str, draws: int, repeats: int) -> dict:
    model = Run.open(run).load_model("cpu")
    if not isinstance(model, LikelihoodBound):
        raise UserError(f"{run} holds a {type(model).__name__}, which has no likelihood bound: give VAE or GMVAE runs")
    data = prepare(Run.open(run).config, device="cpu")
    grey = cs236_test_pixels(data.test_x, data.test_y)
    torch.manual_seed(0)
    starter = torch.bernoulli(grey)
    result = {"protocol": bounds_on(model, cs236_test_subset(data.test_x, data.test_y), repeats),
              "starter_code": bounds_on(model, starter, repeats)}
    others = [bounds_on(model, cs236_test_subset(data.test_x, data.test_y, seed=s), repeats) for s in range(1, draws + 1)]
    for key in result["protocol"]:
        values = [o[key] for o in others]
        result[f"other_draws_{key}"] = {"mean": statistics.mean(values), "sd": statistics.stdev(values),
                                        "min": min(values), "max": max(values), "values": values}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories of trained VAE / GMVAE models on MNIST")
    parser.add_argument("--draws", type=int, default=20, help="other binarizations (seeds 1..N)")
    parser.add_argument("--repeats", type=int, default=20, help="passes averaged for the NELBO")
    parser.add_argument("--out", default="bench/results/subset_binarization.json")
    args = parser.parse_args(argv)
    if args.draws < 2 or args.repeats < 1:
        print("subset_binarization: --draws must be ≥ 2 and --repeats ≥ 1", file=sys.stderr)
        return 2
    results = {}
    try:
        for run in args.runs:
            r = results[run] = run_sensitivity(run, args.draws, args.repeats)
            o, p, s = r["other_draws_nelbo"], r["protocol"], r["starter_code"]
            print(f"{run}: NELBO protocol draw {p['nelbo']:.2f}, starter-code draw {s['nelbo']:.2f}, "
                  f"{args.draws} other draws {o['mean']:.2f} ± {o['sd']:.2f} [{o['min']:.2f}, {o['max']:.2f}]; "
                  f"-IWAE-1000 {p['-iwae_1000']:.2f} / {s['-iwae_1000']:.2f} / "
                  f"{r['other_draws_-iwae_1000']['mean']:.2f} ± {r['other_draws_-iwae_1000']['sd']:.2f}", flush=True)
    except UserError as e:
        print(f"subset_binarization: {e}", file=sys.stderr)
        return 2
    record = {"draws": args.draws, "repeats": args.repeats, "torch": torch.__version__, "runs": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
