"""The decode cache: loading apple2orange the first time (decode every JPEG) against the second (one file).

    python bench/decode_cache.py [--data-dir DIR] [--size 64] [--rounds 3] [--out bench/results/decode_cache.json]

Each round points $LATENTLAB_CACHE at a fresh empty folder, then times `load_own` for
apple2orange (trainA, trainB, testA, testB, all decoded at --size) twice in the same process:
the first load decodes and writes the cache, the second reads it. The best of the rounds
counts for each, and the ratio first / second is the cache's speed-up. The data folder is
only read (its file list and mtimes are checked to be unchanged).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from latentlab.config import DataConfig
from latentlab.data.own import load_own
from latentlab.data.root import data_root
from latentlab.errors import UserError


def snapshot(folder: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="dataset root (default: $LATENTLAB_DATA, else ./data)")
    ap.add_argument("--size", type=int, default=64, help="decode to size x size (default 64)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="bench/results/decode_cache.json")
    args = ap.parse_args(argv)
    root = data_root(args.data_dir)
    cfg = DataConfig(name="apple2orange", image_size=(args.size, args.size), binarize="none")
    try:
        before = snapshot(root / "apple2orange") if (root / "apple2orange").is_dir() else {}
        first, second = [], []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as cache:
                os.environ["LATENTLAB_CACHE"] = cache
                for times in (first, second):
                    t0 = time.perf_counter()
                    data = load_own(cfg, root, download=False)
                    times.append(time.perf_counter() - t0)
        if snapshot(root / "apple2orange") != before:
            raise UserError(f"{root / 'apple2orange'} changed during the benchmark")
    except UserError as e:
        print(f"decode_cache: error: {e}", file=sys.stderr)
        return 2
    n = len(data.train_x) + len(data.test_x)  # both domains of both splits
    result = {
        "images": n, "size": [args.size, args.size], "rounds": args.rounds,
        "first_s": first, "second_s": second, "best_first_s": min(first), "best_second_s": min(second),
        "ratio": min(first) / min(second),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "torch_threads": __import__("torch").get_num_threads()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{n} images at {args.size}x{args.size}: first load {min(first):.2f} s, second {min(second):.3f} s, "
          f"ratio {result['ratio']:.1f} (best of {args.rounds}) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
