"""The `latentlab` command: train · eval · sample · report · prior · study · bench · presets. No math here: it parses
and calls api.py.

Errors a user can cause print one line and exit with status 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import NoReturn

from latentlab.errors import Interrupted, UserError
from latentlab.fields import POSITIVE_INT, SEED, Accepts, show


class _Parser(argparse.ArgumentParser):
    """argparse whose refusals are one line too (`latentlab sample: error: argument -n: ...`), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _integer(spec: Accepts) -> Callable[[str], int]:
    """An argparse type: an integer that `spec` accepts (latentlab.fields), else its one-line refusal."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = text
        if spec.refuses(value):
            raise argparse.ArgumentTypeError(f"{show(value)} is not accepted: {spec.text}")
        return value

    return parse

BUDGETS = ("quick", "standard", "full")  # of every study: quick (seconds, the tests), standard (minutes), full


def _common(p: argparse.ArgumentParser, *, loops: bool = True, data: bool = True, device: bool = True) -> None:
    if data:
        p.add_argument("--data-dir", help="dataset root (default: $LATENTLAB_DATA, else ./data)")
    if device:
        p.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps (default: the config's train.device)")
    if loops:
        p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="latentlab", description="Deep generative models with latent variables.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a config or preset (then evaluate, draw figures, write the report)")
    p.add_argument("config", nargs="?", help="a TOML file or a preset name (e.g. cs236_vae)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.iterations=2000 (repeatable)")
    p.add_argument("--resume", metavar="RUN", help="continue the run directory RUN from its newest checkpoint")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<preset>-<time>)")
    p.add_argument("--no-eval", action="store_true", help="skip evaluation, figures and report after training")
    _common(p)

    p = sub.add_parser("eval", help="recompute results.json, figures and report.html of a run")
    p.add_argument("run")
    p.add_argument("--out", metavar="DIR", help="where results.json goes (default: the run directory)")
    p.add_argument("--accept-changed-data", action="store_true",
                   help="evaluate even though the run's data changed since it trained (saying so on stderr)")
    _common(p)

    p = sub.add_parser("sample", help="write sample grids of a trained run as PNG")
    p.add_argument("run")
    p.add_argument("-n", type=_integer(POSITIVE_INT), default=200, help="number of samples (default 200: a 10×20 grid)")
    p.add_argument("--seed", type=_integer(SEED), default=0)
    p.add_argument("--out", metavar="DIR", help="output folder (default: RUN/samples)")
    _common(p, loops=False, data=False)  # sampling reads no dataset

    p = sub.add_parser("report", help="write a self-contained report.html for one or several runs")
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", metavar="FILE", help="default: RUN/report.html, or ./report.html for several runs")
    _common(p, loops=False, data=False, device=False)

    p = sub.add_parser("prior", help="fit a latent prior (gmm | two-stage | diffusion) on a trained run's codes; "
                       "samples decode through the run's decoder")
    p.add_argument("run", help="the parent run: a trained model with an encoder and a decoder (vae, ae, gmvae; "
                   "cvae: a prior per label)")
    p.add_argument("--kind", required=True, choices=("gmm", "two-stage", "diffusion"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the prior's config, e.g. --set model.components=20 (repeatable)")
    p.add_argument("--out", metavar="DIR", help="the prior's run directory (default: runs/<parent>-prior-<kind>-<time>)")
    p.add_argument("--no-eval", action="store_true", help="skip evaluation, figures and report after fitting")
    _common(p)

    p = sub.add_parser("study", help="run a study: train what it needs, write its figures and report.html")
    p.add_argument("name", help="the study (latentlab study --list shows them)", nargs="?")
    p.add_argument("--budget", choices=BUDGETS, default="standard",
                   help="quick: seconds (tests); standard: minutes on a 2-core CPU (default); full: the original protocol")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/study-<name>-<time>); rerunning "
                   "into the same folder reuses finished runs and resumes interrupted ones")
    p.add_argument("--list", action="store_true", help="list the studies")
    _common(p)

    p = sub.add_parser("bench", help="training-step throughput beside a reference loop and the hardware limit")
    p.add_argument("--iterations", type=_integer(POSITIVE_INT), default=300, help="iterations per timed round (default 300)")
    p.add_argument("--rounds", type=_integer(POSITIVE_INT), default=3, help="interleaved rounds; the best counts (default 3)")
    p.add_argument("--only", action="append", metavar="CASE", help="cs236_vae | conv_vae | gan | diffusion | cyclegan | unet_ddpm (repeatable)")
    p.add_argument("--out", metavar="DIR", default="bench/results", help="where the JSON results go")
    p.add_argument("--no-compile", action="store_true", help="skip the train.compile = true variant")
    _common(p)

    p = sub.add_parser("presets", help="list the preset configs")
    p.add_argument("--debug", action="store_true")
    return ap


def run(args: argparse.Namespace) -> None:
    from latentlab import api, config

    if args.command == "train":
        if (args.config is None) == (args.resume is None):
            raise UserError("train needs a CONFIG (file or preset) or --resume RUN, not both")
        trained = api.train(args.config, overrides=args.overrides, out=args.out, resume=args.resume,
                            data_dir=args.data_dir, device=args.device, quiet=args.quiet,
                            evaluate_after=not args.no_eval)
        print(f"run: {trained}" + ("" if args.no_eval else f"\nreport: {trained.report_path}"))
    elif args.command == "eval":
        results = api.evaluate(args.run, out=args.out, data_dir=args.data_dir, device=args.device, quiet=args.quiet,
                               accept_changed_data=args.accept_changed_data)
        for name, values in results["sections"].items():
            print(name + ": " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
        for check in results["checks"]:
            print(("PASS " if check["passed"] else "FAIL ") + check["name"])
    elif args.command == "sample":
        print(api.sample(args.run, n=args.n, out=args.out, seed=args.seed, device=args.device))
    elif args.command == "report":
        print(api.report(args.runs, out=args.out))
    elif args.command == "prior":
        fitted = api.prior(args.run, kind=args.kind, overrides=args.overrides, out=args.out, data_dir=args.data_dir,
                           device=args.device, quiet=args.quiet, evaluate_after=not args.no_eval)
        print(f"run: {fitted}" + ("" if args.no_eval else f"\nreport: {fitted.report_path}"))
    elif args.command == "study":
        from latentlab.studies import studies

        known = studies()
        if args.list or args.name is None:
            print("\n".join(known) if known else "no studies yet")
            return
        if args.name not in known:
            raise UserError(f"unknown study '{args.name}'; known: {', '.join(known) or 'none yet'}")
        from latentlab.run import default_dir

        out = args.out or default_dir(f"study-{args.name}")
        report = known[args.name].run(out, args.budget, data_dir=args.data_dir, device=args.device, quiet=args.quiet)
        print(f"report: {report}")
    elif args.command == "bench":
        from pathlib import Path

        from latentlab import bench

        bench.run(Path(args.out), iterations=args.iterations, rounds=args.rounds, data_dir=args.data_dir,
                  only=args.only, compile=not args.no_compile, quiet=args.quiet)
    elif args.command == "presets":
        for name in config.presets():
            print(name)


def _out_of_memory(e: BaseException) -> str:
    """What an allocation failure says it tried ("51.2 GB asked for"), or "" for any other error."""
    text = str(e)
    if not isinstance(e, MemoryError) and "can't allocate memory" not in text and "out of memory" not in text:
        return ""
    asked = re.search(r"allocate (\d+) bytes", text) or re.search(r"allocate ([\d.]+ [KMGT]iB)", text)
    if asked is None:
        return "an allocation failed"
    size = asked.group(1)
    return f"{int(size) / 1e9:.1f} GB asked for" if size.isdigit() else f"{size} asked for"


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # --help (0), or an argument refused in one line (2)
        return e.code if isinstance(e.code, int) else 0
    try:
        run(args)
    except UserError as e:
        if args.debug:
            raise
        print(f"latentlab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:  # Ctrl-C or SIGTERM during training: a checkpoint was written
        print(f"latentlab {args.command}: {e}", file=sys.stderr)
        return e.exit_status
    except (MemoryError, RuntimeError) as e:  # a config too large for this machine: torch's allocators say so
        if args.debug or not _out_of_memory(e):
            raise
        print(f"latentlab {args.command}: error: out of memory ({_out_of_memory(e)}); lower the sizes in the "
              "config (model widths, train.batch_size, data.n_train, eval.chunk) or use a larger device", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"latentlab {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
