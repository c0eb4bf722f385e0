"""Score-based and diffusion models on 2-D data (docs/protocols.md, section C): NCSN (denoising score matching
over a geometric σ ladder, annealed Langevin sampling) and DDPM (ε-prediction, ancestral sampling)
on the toy distributions of data/toy2d.py.

Each (distribution, model) pair is one ordinary run of the presets ncsn_8gaussians and
ddpm_8gaussians with data.name set, trained and evaluated through the public API (protocol
"samples2d": every metric beside its real-vs-real floor); the study then draws, per
distribution, the data beside both models' samples, each model's score field at three noise
levels (beside the exact field for the mixtures) and the sampling paths, and writes one report.

Runs already finished in OUT/runs with the same config are reused and interrupted ones continued, so
the same command completes an interrupted study or redraws its figures and report without training again.

Budgets: quick = two distributions, 200 steps (the tests); standard = the presets (6,000 steps,
T = 100, 10 σ × 20 Langevin steps) on every distribution but 2spirals; full = every distribution,
30,000 steps of batch 512, T = 1000, 16 σ × 50 Langevin steps, 5,000 samples per draw.

The study runs under `studies.base.study_threads` (one intra-op thread unless OMP_NUM_THREADS says
otherwise): on the shared 2-core machine two OpenMP threads made these 128-wide networks 25-40×
slower per training step than one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from latentlab.config import GENERATED
from latentlab.data import toy2d
from latentlab.evaluation.score_fields import GRID_ARROWS, field_levels, modes_of
from latentlab.reporting.study import Section
from latentlab.studies.base import Study, study
from latentlab.studies.score_2d_report import METRICS_TEXT, metrics_table, run_checks
from latentlab.viz import fields as viz

MODELS = ("ncsn", "ddpm")
LABELS = {"ncsn": "NCSN + annealed Langevin", "ddpm": "DDPM + ancestral sampling"}
@dataclass(frozen=True)
class Budget:
    """The distributions; samples and sampler paths drawn in the figures; overrides of both presets, of
    ncsn_8gaussians and of ddpm_8gaussians."""

    distributions: tuple[str, ...]
    figure_n: int
    paths: int
    common: tuple[str, ...] = ()
    ncsn: tuple[str, ...] = ()
    ddpm: tuple[str, ...] = ()

    def overrides(self, model: str) -> tuple[str, ...]:
        """The overrides of both presets, then those of `model` ("ncsn" or "ddpm")."""
        return (*self.common, *{"ncsn": self.ncsn, "ddpm": self.ddpm}[model])


BUDGETS = {
    "quick": Budget(("8gaussians", "moons"), figure_n=300, paths=100,
                    common=("train.iterations=200", "train.batch_size=128", "eval.n_samples=200"),
                    ncsn=("model.steps_each=3",), ddpm=("model.timesteps=50", "model.schedule=\"linear\"")),
    "standard": Budget(tuple(d for d in GENERATED if d != "2spirals"), figure_n=2000,
                       paths=300),  # the presets as they are
    "full": Budget(GENERATED, figure_n=5000, paths=500,
                   common=("train.iterations=30000", "train.batch_size=512", "eval.n_samples=5000"),
                   ncsn=("model.num_sigmas=16", "model.steps_each=50", "model.step_lr=5e-5"),
                   ddpm=("model.timesteps=1000",)),
}


@study("score-2d", BUDGETS)
def run(s: Study, b: Budget) -> Path:
    """Train, evaluate and draw both models on every distribution of the budget; returns the report's path."""
    load0 = _load()
    results: dict[str, dict[str, dict]] = {}
    figures: dict[str, list[tuple[str, Path]]] = {}
    for name in b.distributions:
        models = {}
        for m in MODELS:
            trained = s.run(f"{m}-{name}", f"{m}_8gaussians",
                            [f'data.name="{name}"', "eval.figures=false", *b.overrides(m)], quiet=True)
            results.setdefault(name, {})[m] = r = trained.results
            models[m] = s.model(trained)
            s.log(f"{name} {m}: energy {r['sections']['samples']['energy']:.3g} "
                  f"(floor {r['sections']['floor']['energy']:.3g}), train {r['elapsed'].get('train_s', 0):.0f} s, "
                  f"eval {r['elapsed']['eval_s']:.0f} s")
        figures[name] = _figures(models, name, s.out / "figures", b.figure_n, b.paths)
    conditions = (f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s), device "
                  f"{s.device or 'auto'}; 1-minute load average {load0} at the start and {_load()} at the end "
                  f"(other processes share the CPU)"
                  + (f"; {len(s.reused)} finished runs reused from an earlier invocation (their times are their own)"
                     if s.reused else ""))
    run_s = sum(r["elapsed"].get("train_s", 0) + r["elapsed"]["eval_s"]
                for per in results.values() for r in per.values())
    conditions += f"; the runs' own training and evaluation times sum to {run_s / 60:.1f} min"
    checks = run_checks(results)
    sections = [Section("Metrics against their floors", text=METRICS_TEXT, tables=[metrics_table(results)],
                        checks=checks)]
    for name, figs in figures.items():
        sections.append(Section(f"{name}", figures=figs))
    s.log(f"{sum(c.passed for c in checks)}/{len(checks)} checks passed")
    summary = {"conditions": conditions,
               "results": {d: {m: {k: r[k] for k in ("sections", "checks", "elapsed", "protocol")}
                               for m, r in per.items()} for d, per in results.items()}}
    return s.finish(
        summary, sections=sections,
        title="Score-based and diffusion models on 2-D data: learned score fields, samplers, metrics with floors",
        intro=f"NCSN (Song & Ermon 2019) and DDPM (Ho et al. 2020) on {len(results)} standardised 2-D "
              f"distributions; presets ncsn_8gaussians and ddpm_8gaussians with data.name set"
              f"{''.join(', ' + o for o in (*b.common, *b.ncsn, *b.ddpm))}. {conditions}.")


@torch.no_grad()
def _figures(models: dict, name: str, out: Path, n: int, paths: int) -> list[tuple[str, Path]]:
    """Data vs both models' samples, each model's score field, and both models' sampling paths."""
    g = torch.Generator().manual_seed(0)
    data = toy2d.sample(name, n, g)
    lim = viz.plot_limit(data)
    samples = {LABELS[m]: model.sample(n, generator=_gen(model, 1)).cpu() for m, model in models.items()}
    traj = {m.upper(): model.sample_trajectory(paths, generator=_gen(model, 2)).cpu()
            for m, model in models.items()}
    figs = [(f"{name}: the data and {n:,} samples of each model; circles: 3σ around each mode" if modes_of(name)
             else f"{name}: the data and {n:,} samples of each model",
             viz.samples_vs_data(data, samples, out / f"{name}-samples.png", modes=modes_of(name), lim=lim))]
    for m, model in models.items():
        levels = field_levels(model, name, lim, torch.Generator().manual_seed(3))
        what = "learned (red) above the exact (black)" if "exact" in levels[0] else "learned"
        path = viz.score_fields(viz.grid_points(lim, GRID_ARROWS), levels, out / f"{name}-field-{m}.png", lim=lim)
        figs.append((f"{name}, {m.upper()}: {what} score ∇log p_σ over the density p_σ (blue) "
                     "at three noise levels", path))
    figs.append((f"{name}: the sample cloud along the sampling paths, from the start to the samples; "
                 f"three paths drawn since the previous panel (DDPM moves in x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε)",
                 viz.trajectories(traj, data, out / f"{name}-trajectories.png", lim=lim)))
    return figs


def _gen(model, seed: int) -> torch.Generator:
    return torch.Generator(device=model.sigmas.device).manual_seed(seed)


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"
