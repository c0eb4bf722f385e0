"""The tables and checks of the score-2d study, from the runs' results.json (no model here)."""

from __future__ import annotations

from latentlab.checks import Check
from latentlab.evaluation.sample_metrics import FIELD_SIGMAS, FLOOR_PAIRS, MODEL_DRAWS, REALS_PER_DRAW
from latentlab.reporting.study import Table

METRICS_TEXT = (
    f"Each number is the mean over {MODEL_DRAWS} model draws of n samples, each against {REALS_PER_DRAW} fresh "
    "real draws of n (single values are skewed, their sd about their mean). Its floor is the metric's "
    "expected value between two independent real draws of the same n, which a perfect sampler matches on "
    "average: for the energy distance and MMD² in closed form, 2·E‖X − X'‖/n and 2·(1 − E k(X, X'))/n, the "
    f"expectations from {FLOOR_PAIRS} pairs of real draws; for SW the mean over those pairs. "
    "(k×) = value / floor. Modes and within 3σ: the Gaussian mixtures only (a real draw has every mode and "
    "1 − e^{-9/2} ≈ 98.9 % within 3σ). score err: √(E‖s_θ − ∇log p_σ‖² / E‖∇log p_σ‖²) over x ~ p_σ, at the "
    "model's noise level nearest σ = 1 / 0.2 / 0.05.")


def _with_ratio(value: float, floor: float) -> str:
    return f"{value:.3g} ({value / floor:.2f}×)"


def metrics_table(results: dict[str, dict[str, dict]]) -> Table:
    """One row per (distribution, model): each metric (×floor) beside its floor, modes, score errors, times."""
    rows = []
    for name, per_model in results.items():
        for model, r in per_model.items():
            s, f = r["sections"]["samples"], r["sections"]["floor"]
            errors = [s.get(f"score_err@{t:g}") for t in FIELD_SIGMAS]
            rows.append([
                name, model,
                _with_ratio(s["energy"], f["energy"]), f"{f['energy']:.3g}",
                _with_ratio(s["mmd2"], f["mmd2"]), f"{f['mmd2']:.3g}",
                _with_ratio(s["sw"], f["sw"]), f"{f['sw']:.3g}",
                "—" if "modes_covered" not in s else f"{s['modes_covered']:g} / {f['modes_covered']:g}",
                "—" if "within_3sigma" not in s else f"{100 * s['within_3sigma']:.1f} %",
                "—" if errors[0] is None else " / ".join(f"{e:.2f}" for e in errors),
                r["elapsed"].get("train_s"), r["elapsed"].get("eval_s"),
            ])
    n = next(iter(next(iter(results.values())).values()))["protocol"]["n_per_draw"]
    return Table(
        ["distribution", "model", "energy distance", "floor", "MMD²", "floor", "sliced W2", "floor",
         "modes covered", "within 3σ", "score err σ = 1 / 0.2 / 0.05", "train s", "eval s"],
        rows, caption=f"model samples vs real data, n = {n:,} per draw",
        note="(k×) = the value over its real-vs-real floor; ≤ 2× is the study's bar for the energy distance. "
             "modes covered: the mean over the model's draws / over real draws.")


def run_checks(results: dict[str, dict[str, dict]]) -> list[Check]:
    """Every run's checks (energy within 2× floor; for mixtures all modes, ≥ 90 % within 3σ), named by run."""
    return [Check(f"{name}, {model}: {c['name']}", c["passed"], c.get("value"))
            for name, per_model in results.items() for model, r in per_model.items() for c in r["checks"]]
