"""eval.protocol = "samples2d" (docs/protocols.md, section C): a model of a 2-D toy distribution, scored against
real draws, every number beside its real-vs-real floor (the metrics: evaluation/sample_metrics.py)."""

from __future__ import annotations

import torch
from torch import Tensor

from latentlab.checks import Check
from latentlab.data import toy2d
from latentlab.evaluation.sample_metrics import (BANDWIDTHS, FIELD_SIGMAS, FLOOR_PAIRS, MODEL_DRAWS, N_PROJ,
                                                 REALS_PER_DRAW, nearest_level, paired_metrics, real_floor,
                                                 score_errors)
from latentlab.models.base import NoiseConditionalScore

REAL_SEED_OFFSET = 1_000_003  # real draws: a generator seeded train.seed + this, apart from the data's own


@torch.no_grad()
def samples2d_protocol(model, data, config) -> dict:
    """{"protocol", "sections", "section_titles", "reference", "checks"} of `model` on data.name.

    MODEL_DRAWS draws of n = eval.n_samples (one call to model.sample), each against
    REALS_PER_DRAW fresh real draws of n; the floor: the metric's expected value between two
    independent real draws of n (closed form for energy and MMD², from FLOOR_PAIRS pairs).
    Checks: energy distance within 2× its floor; for the mixtures, every mode covered in every
    draw and ≥ 90 % of the samples within 3σ of a mode.
    """
    name, n, seed = data.name, config.eval.n_samples, config.train.seed
    device = data.train_x.device
    x = model.sample(n * MODEL_DRAWS, generator=torch.Generator(device=device).manual_seed(seed)).cpu()
    real = torch.Generator().manual_seed(seed + REAL_SEED_OFFSET)
    mixture = toy2d.mixture(name)

    def draw(k: int) -> Tensor:
        return toy2d.sample(name, k, real)

    floor, floor_sd = real_floor(name, n, seed + REAL_SEED_OFFSET + 1)
    samples, samples_sd = paired_metrics(list(x.split(n)), draw, mixture, reals=REALS_PER_DRAW)
    protocol = {"name": "samples2d", "distribution": name, "n_per_draw": n, "model_draws": MODEL_DRAWS,
                "reals_per_model_draw": REALS_PER_DRAW, "floor_pairs": FLOOR_PAIRS,
                "floor": f"expected value between two independent real draws of n: 2·E‖X - X'‖/n (energy), "
                         f"2·(1 - E k(X, X'))/n (MMD²), from {FLOOR_PAIRS} pairs; the pairs' mean (the others)",
                "real_draws": f"data/toy2d.py, torch.Generator seeded {seed + REAL_SEED_OFFSET} "
                              f"(floor: {seed + REAL_SEED_OFFSET + 1})",
                "model_sampling": f"model.sample({n * MODEL_DRAWS}), torch.Generator seeded {seed}",
                "mmd_bandwidths": list(BANDWIDTHS), "sw_directions": N_PROJ}
    checks = [Check("energy distance within 2× its real-vs-real floor", samples["energy"] <= 2 * floor["energy"],
                    samples["energy"] / floor["energy"])]
    if mixture is not None:
        k = len(mixture.means)
        checks += [Check(f"all {k} modes covered in every draw of {n}", samples["modes_covered"] == k,
                         samples["modes_covered"]),
                   Check("≥ 90 % of samples within 3σ of a mode", samples["within_3sigma"] >= 0.9,
                         samples["within_3sigma"])]
        if isinstance(model, NoiseConditionalScore):
            samples.update(score_errors(model, mixture, n, real))
            protocol["score_err_levels"] = {f"{t:g}": float(model.sigmas[nearest_level(model.sigmas, t)])
                                            for t in FIELD_SIGMAS}
    return {"protocol": protocol,
            "sections": {"samples": samples, "floor": floor, "samples_sd": samples_sd, "floor_sd": floor_sd},
            "section_titles": {"samples": f"model vs real (mean of {MODEL_DRAWS} × {REALS_PER_DRAW} pairs of {n})",
                               "floor": f"floor: real vs real, expected at n = {n}",
                               "samples_sd": "sd over the model's pairs", "floor_sd": "sd over the real pairs"},
            "reference": None, "checks": checks}
