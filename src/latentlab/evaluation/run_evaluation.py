"""A trained model's whole evaluation, written into its run: results.json, the figures, the explorer and
report.html (and TensorBoard's hparams where the run logs there)."""

from __future__ import annotations

import sys
import time

import torch

from latentlab.config import Config
from latentlab.data.handoff import Data
from latentlab.errors import UserError
from latentlab.run import FORMAT, Run


def evaluate_run(run: Run, model, data: Data, config: Config, *, out=None, quiet: bool = True,
                 train_s: float | None = None) -> dict:
    """The evaluation protocol of `config` on `model` (seeded by train.seed), then figures and report;
    results.json goes into `out` (default: the run directory). Returns the results."""
    from latentlab.evaluation.explorer import write_explorer
    from latentlab.evaluation.figures import draw_all
    from latentlab.evaluation.protocols import evaluate
    from latentlab.reporting.html import write_report
    from latentlab.training import tensorboard

    model.eval()
    t0 = time.perf_counter()
    torch.manual_seed(config.train.seed)  # the same numbers every time a run is evaluated
    results = {"format": FORMAT, "run": run.path.name, "model": config.model.name, "step": run.step,
               **evaluate(model, data, config, quiet=quiet)}
    results["elapsed"] = {"eval_s": round(time.perf_counter() - t0, 1)}
    if train_s is not None:
        results["elapsed"]["train_s"] = round(train_s, 1)
    run.write_results(results, out_dir=out)
    if "tensorboard" in config.train.log:
        try:
            tensorboard.write_hparams(run.tensorboard_dir, config, results, run.step)
        except UserError as e:  # evaluating elsewhere, without the package: the results do not need it
            print(f"latentlab: results.json written; no TensorBoard hparams: {e}", file=sys.stderr)
    if config.eval.figures:
        draw_all(model, data, run.figures_dir, run.metrics_path, seed=config.train.seed)
        write_explorer(model, data.test_x, data.test_y, run.explorer_path, classes=data.classes, seed=config.train.seed)
    write_report([run.path], run.report_path)
    return results
