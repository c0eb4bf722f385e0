"""Did a reshaping change any number? Short runs of the presets, their results.json side by side.

    python bench/compare_results.py record OUT [--only CASE ...]   # train + evaluate every case into OUT
    python bench/compare_results.py compare BEFORE AFTER           # exit 1 and list every difference

`record` trains each case below with `latentlab train` in a subprocess (one intra-op thread, so
that sums round the same way every time), then keeps its results.json as OUT/<case>.json with
what may differ between two identical runs left out: times, the run directory's name and where
a cached classifier sits. The feature classifiers are cached in OUT/cache, so a second `record`
pointed at the same cache does not retrain them (their SHA-256 is still compared).
Each case is first run for one iteration without evaluation, so that every image folder is decoded
into the cache before the measured run: code before the decode fix read a freshly decoded folder in
a channels-last layout, on which convolutions round differently from the cached copy read back later.
The own-data cases read a small image folder and a table that `record` writes into OUT/inputs,
the same bytes every time.

Run it before a change (on a checkout of the old code: `PYTHONPATH=old/src python ...`) and after
it, then `compare`. Every difference is a number the change moved.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

QUICK_BOUNDS = ["eval.subset_repeats=2", "eval.iwae_k=[1, 10]", "eval.iwae_repeats=[1, 1]", "eval.figures=false"]

# case -> (preset or TOML path, overrides); {inputs} is OUT/inputs
CASES: dict[str, tuple[str, list[str]]] = {
    "cs236_vae": ("cs236_vae", ["train.iterations=60", *QUICK_BOUNDS]),
    "cs236_gmvae": ("cs236_gmvae", ["train.iterations=40", "model.k=20", *QUICK_BOUNDS]),
    "cs236_ssvae": ("cs236_ssvae", ["train.iterations=30", "eval.figures=false"]),
    "cs236_cvae_mnist": ("cs236_cvae_mnist", ["train.iterations=40", "eval.iwae_k=[1, 10]", "eval.iwae_repeats=[1, 1]",
                                              "eval.figures=false"]),
    "faces_vae": ("faces_vae", ["train.iterations=30", "eval.figures=false"]),
    "ddpm_8gaussians": ("ddpm_8gaussians", ["train.iterations=100", "eval.n_samples=500", "eval.figures=false"]),
    "gan_8gaussians": ("gan_8gaussians", ["train.iterations=100", "eval.n_samples=500", "eval.figures=false"]),
    "wgan_gp_mnist": ("wgan_gp_mnist", ["train.iterations=10", "model.channels=8", "model.fc=64",
                                        "eval.figures=false"]),
    "cyclegan_apple2orange_64": ("cyclegan_apple2orange_64", ["train.iterations=6", "model.ngf=4", "model.ndf=8",
                                                              "model.n_blocks=1", "train.batch_size=2",
                                                              "eval.figures=false"]),
    # a pool of 2 fills at the first steps, so its random draws (which image to hand back) decide the numbers
    "cyclegan_small_pool": ("cyclegan_apple2orange_64", ["train.iterations=6", "model.ngf=4", "model.ndf=8",
                                                         "model.n_blocks=1", "train.batch_size=2", "model.pool_size=2",
                                                         "eval.figures=false"]),
    "folder_vae": ("cs236_vae", ["data.name=\"folder\"", "data.path=\"{inputs}/folder\"", "data.binarize=\"none\"",
                                 "model.net=\"conv\"", "model.likelihood=\"gaussian\"", "train.iterations=30",
                                 "train.batch_size=8", "eval.protocol=\"test\"", "eval.reference=\"\"",
                                 "eval.iwae_k=[1, 10]", "eval.iwae_repeats=[1, 1]", "eval.figures=false"]),
    "array_table_vae": ("cs236_vae", ["data.name=\"array\"", "data.path=\"{inputs}/table.npy\"",
                                      "data.binarize=\"none\"", "model.likelihood=\"gaussian\"",
                                      "train.iterations=40", "train.batch_size=16", "eval.protocol=\"test\"",
                                      "eval.reference=\"\"", "eval.iwae_k=[1, 10]", "eval.iwae_repeats=[1, 1]",
                                      "eval.figures=false"]),
}

VOLATILE = {"elapsed", "run", "path", "seconds", "cached", "train_s", "eval_s"}


def write_inputs(folder: Path) -> None:
    """A 2-class folder of 16×16 colour PNGs and a (200, 5) table, from fixed seeds."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, tint in (("red", (200, 40, 40)), ("blue", (40, 40, 200))):
        (folder / "folder" / label).mkdir(parents=True, exist_ok=True)
        for i in range(24):
            pixels = np.clip(np.asarray(tint) + rng.normal(0, 40, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / "folder" / label / f"{i:03d}.png")
    table = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5)) + np.arange(5)
    np.save(folder / "table.npy", table.astype(np.float32))


def stable(value):
    """`value` without the keys that differ between two identical runs."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def record(out: Path, only: list[str]) -> int:
    out.mkdir(parents=True, exist_ok=True)
    inputs = out / "inputs"
    if not inputs.exists():
        write_inputs(inputs)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "LATENTLAB_CACHE": os.environ.get("LATENTLAB_CACHE", str(out / "cache"))}
    failed = 0
    for case, (preset, overrides) in CASES.items():
        if only and case not in only:
            continue
        run = out / "runs" / case
        shutil.rmtree(run, ignore_errors=True)
        args = [sys.executable, "-m", "latentlab", "train", preset, "--out", str(run), "--quiet", "--device", "cpu"]
        for o in overrides:
            args += ["--set", o.replace("{inputs}", str(inputs))]
        with tempfile.TemporaryDirectory() as warm:  # decode every image folder into the cache first
            subprocess.run([*args[:5], "--out", warm + "/run", *args[7:], "--set", "train.iterations=1",
                            "--set", 'eval.protocol="none"', "--set", "eval.figures=false"], env=env, capture_output=True)
        done = subprocess.run(args, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{case}: exit {done.returncode}: {done.stderr.strip()[-400:]}")
            failed += 1
            continue
        results = json.loads((run / "results.json").read_text())
        (out / f"{case}.json").write_text(json.dumps(stable(results), indent=1, sort_keys=True))
        print(f"{case}: recorded")
    return 1 if failed else 0


def differences(a, b, where: str = ""):
    """(path, a, b) for each leaf where a and b differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            yield from differences(a.get(k, "<missing>"), b.get(k, "<missing>"), f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (u, v) in enumerate(zip(a, b)):
            yield from differences(u, v, f"{where}[{i}]")
    elif a != b:
        yield where, a, b


def compare(before: Path, after: Path) -> int:
    changed = 0
    for path in sorted(before.glob("*.json")):
        other = after / path.name
        if not other.exists():
            print(f"{path.stem}: missing in {after}")
            changed += 1
            continue
        diff = list(differences(json.loads(path.read_text()), json.loads(other.read_text())))
        print(f"{path.stem}: {'identical' if not diff else f'{len(diff)} differences'}")
        for where, a, b in diff[:20]:
            print(f"    {where}: {a!r} -> {b!r}")
        changed += bool(diff)
    return 1 if changed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("record")
    r.add_argument("out", type=Path)
    r.add_argument("--only", nargs="*", default=[], choices=list(CASES))
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = ap.parse_args()
    return record(args.out, args.only) if args.command == "record" else compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
