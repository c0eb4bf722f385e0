"""Feel your ELBO (docs/protocols.md, section B): a VAE with 1-D data, a scalar latent, one decoder weight θ and one
encoder weight φ (models/scalar_vae.py), small enough that every curve is computed, not sketched.

For each decoder f (linear: z; tanh z; square: z²) the study draws N = 100 points from the model
at a true θ*, then: log p_θ(x) over θ by quadrature (checked against N(0, θ² + σ²) for the linear
decoder); ELBO(θ; φ) over θ for several φ; max_φ ELBO(θ; φ) by a grid then Brent's method; the
gap log p − ELBO against KL(q_φ(z|x) || p_θ(z|x)) computed by its own quadrature; the ELBO
over a (θ, φ) grid and the path of plain gradient ascent on it (SGD, lr 0.02, from θ = 0.3,
φ = 3); the true posterior against q at the end of the path. All values are nats per data
point (the mean over the N points).

With f(z) = z the encoder family contains the true posterior (φ = θ), so the best ELBO equals
log p(x) for every θ; with a nonlinear f the posterior is not Gaussian (for z², it has two
modes), no φ closes the gap, and the θ that maximises the ELBO is not the maximum-likelihood θ.

Budgets: quick = coarse grids and 40 steps (the tests); standard = 141 θ values, an 81 × 81
landscape, 1,000 steps (about a minute); full = finer grids, 3,000 steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from latentlab.checks import Check
from latentlab.models.scalar_vae import ScalarVAE, ScalarVAEConfig, elbo, kl_to_posterior, log_joint, log_px
from latentlab.probability import LOG_2PI
from latentlab.reporting.study import Section, Table
from latentlab.studies.base import Study, study
from latentlab.viz.elbo import elbo_figure

VARIANTS = {"linear": 1.5, "tanh": 1.5, "square": 1.0}  # decoder f -> the θ* that generates the data
PHIS = (0.5, 1.0, 1.5, 2.5)  # the φ of the drawn ELBO curves
SIGMA, N_POINTS, THETA_RANGE, PHI_RANGE = 0.5, 100, (0.05, 3.5), (0.05, 5.0)
START, LR = (0.3, 3.0), 0.02  # lr 0.05 zig-zags across the narrow z² ridge


@dataclass(frozen=True)
class Budget:
    n_theta: int  # θ values of the curves
    n_landscape: int  # grid points per axis of the (θ, φ) landscape
    steps: int  # gradient-ascent steps


BUDGETS = {"quick": Budget(16, 12, 40), "standard": Budget(141, 81, 1000), "full": Budget(281, 161, 3000)}


@study("elbo-1d", BUDGETS)
def run(s: Study, b: Budget) -> Path:
    """Compute, draw and report every variant under the budget (CPU, float64); returns the report's path."""
    results, sections = {}, []
    for decoder, theta_star in VARIANTS.items():
        numbers, arrays = study_variant(decoder, theta_star, b)
        path = elbo_figure(arrays, s.out / "figures" / f"elbo_{decoder}.png",
                           title=f"f(z) = {_F[decoder]}: data from θ* = {theta_star}, σ = {SIGMA}, N = {N_POINTS}")
        results[decoder] = numbers
        sections.append(_section(decoder, numbers, path))
    for d, r in results.items():
        s.log(f"{d}: max_θ [log p − max_φ ELBO] = {r['max_best_gap']:.3g} nats (min {r['min_best_gap']:.3g}); "
              f"|gap − KL| ≤ {r['max_gap_kl_error']:.2g}; path end θ = {r['end_theta']:.4f}, φ = {r['end_phi']:.4f}, "
              f"gap {r['end_gap']:.3g}; θ_ML = {r['theta_ml']:.4f}")
    overview = Table(["decoder f(z)", "max_θ gap of the best ELBO", "min_θ gap of the best ELBO", "θ_ML",
                      "θ at the end of ELBO ascent", "gap there"],
                     [[_F[d], r["max_best_gap"], r["min_best_gap"], r["theta_ml"], r["end_theta"], r["end_gap"]]
                      for d, r in results.items()],
                     note="gap = log p_θ(x) − ELBO, nats per data point; best ELBO = max over φ at each θ "
                          "of the grid.")
    return s.finish(
        {"sigma": SIGMA, "n_points": N_POINTS, "variants": results},
        title="Feel your ELBO: a VAE with one decoder and one encoder weight",
        sections=[Section("Overview", tables=[overview]), *sections],
        intro=("p(z) = N(0, 1), p_θ(x|z) = N(θ f(z), σ²), q_φ(z|x) = N(φx/(φ² + σ²), σ²/(φ² + σ²)) — "
               "the exact posterior of the linear model with weight φ. Every curve is computed by quadrature, "
               "in float64."))


_F = {"linear": "z", "tanh": "tanh z", "square": "z²"}


def study_variant(decoder: str, theta_star: float, b: Budget) -> tuple[dict, dict]:
    """The numbers and the arrays of the figure for one decoder."""
    x = ScalarVAE(ScalarVAEConfig(decoder=decoder, theta=theta_star, sigma=SIGMA)).sample(
        N_POINTS, generator=torch.Generator().manual_seed(0)).flatten()  # (N,)
    thetas = torch.linspace(*THETA_RANGE, b.n_theta, dtype=torch.float64)
    lp = torch.stack([log_px(x, t, decoder, SIGMA).mean() for t in thetas])  # (T,)
    curves = {phi: elbo(x, thetas, phi, decoder, SIGMA).mean(-1) for phi in PHIS}  # each (T,)
    best = [best_elbo(x, float(t), decoder) for t in thetas]
    best_elbo_t = torch.tensor([v for v, _ in best], dtype=torch.float64)
    gap = lp - best_elbo_t
    theta_ml = minimize_scalar(lambda t: -float(log_px(x, t, decoder, SIGMA).mean()), bounds=THETA_RANGE,
                               method="bounded", options={"xatol": 1e-8}).x
    kl_error = max(float(((log_px(x, t, decoder, SIGMA) - elbo(x, t, phi, decoder, SIGMA))
                          - kl_to_posterior(x, t, phi, decoder, SIGMA)).abs().max())
                   for phi in PHIS for t in thetas[:: max(1, b.n_theta // 10)])
    numbers = {"theta_star": theta_star, "theta_ml": float(theta_ml), "x_mean": float(x.mean()),
               "max_best_gap": float(gap.max()), "min_best_gap": float(gap.min()), "max_gap_kl_error": kl_error}
    if decoder == "linear":
        var = thetas[:, None] ** 2 + SIGMA**2  # x ~ N(0, θ² + σ²)
        closed = -0.5 * (LOG_2PI + torch.log(var) + x**2 / var)
        numbers["max_closed_form_error"] = float((lp - closed.mean(-1)).abs().max())
        numbers["touch_gap"] = max(float((log_px(x, phi, decoder, SIGMA) - elbo(x, phi, phi, decoder, SIGMA)).mean())
                                   for phi in PHIS)  # each curve at θ = φ, where q_φ = p_θ(z|x)

    grid_theta = torch.linspace(*THETA_RANGE, b.n_landscape, dtype=torch.float64)
    grid_phi = torch.linspace(*PHI_RANGE, b.n_landscape, dtype=torch.float64)
    landscape = torch.stack([elbo(x, grid_theta, phi, decoder, SIGMA).mean(-1) for phi in grid_phi])  # (B, A)
    path = ascend(x, decoder, b.steps)  # (S, 2)
    end_theta, end_phi = (float(v) for v in path[-1])
    end_elbo = float(elbo(x, end_theta, end_phi, decoder, SIGMA).mean())
    end_lp = float(log_px(x, end_theta, decoder, SIGMA).mean())
    numbers.update(end_theta=end_theta, end_phi=end_phi, end_elbo=end_elbo, end_log_px=end_lp,
                   end_gap=end_lp - end_elbo,
                   log_px_at_ml=float(log_px(x, theta_ml, decoder, SIGMA).mean()))

    x_shown = float(x.sort().values[int(0.9 * (len(x) - 1))])  # a point in the upper tail: where f bends most
    z = torch.linspace(-4, 4, 801, dtype=torch.float64)
    xs = torch.tensor([x_shown], dtype=torch.float64)
    post = (log_joint(xs, z, end_theta, decoder, SIGMA) - log_px(xs, end_theta, decoder, SIGMA)).exp()
    m, v = (t.item() for t in _q(xs, end_phi))
    q = torch.exp(-0.5 * (LOG_2PI + np.log(v) + (z - m) ** 2 / v))
    arrays = {"theta": thetas.numpy(), "log_px": lp.numpy(), "best_elbo": best_elbo_t.numpy(),
              "curves": {k: c.numpy() for k, c in curves.items()}, "grid_theta": grid_theta.numpy(),
              "grid_phi": grid_phi.numpy(), "landscape": landscape.numpy(), "path_theta": path[:, 0].numpy(),
              "path_phi": path[:, 1].numpy(), "z": z.numpy(), "posterior": post.numpy(), "q": q.numpy(),
              "x_shown": x_shown, "theta_ml": float(theta_ml), "exact_diagonal": decoder == "linear"}
    return numbers, arrays


def _q(x: torch.Tensor, phi: float) -> tuple[torch.Tensor, torch.Tensor]:
    from latentlab.models.scalar_vae import q_params

    m, v = q_params(x, phi, SIGMA)
    return m.flatten(), v.flatten()


def best_elbo(x: torch.Tensor, theta: float, decoder: str) -> tuple[float, float]:
    """max over φ > 0 of the mean ELBO(θ; φ): the best of 200 grid values, refined by Brent's method.

    φ < 0 mirrors q (z -> −z), which helps no decoder here (θ > 0; the z² posterior is symmetric)."""
    phis = torch.linspace(0.01, 8.0, 200, dtype=torch.float64)
    values = elbo(x, theta, phis, decoder, SIGMA).mean(-1)  # (200,)
    k = int(values.argmax())
    lo, hi = float(phis[max(k - 1, 0)]), float(phis[min(k + 1, len(phis) - 1)])
    res = minimize_scalar(lambda p: -float(elbo(x, theta, p, decoder, SIGMA).mean()), bounds=(lo, hi),
                          method="bounded", options={"xatol": 1e-10})
    return max(-float(res.fun), float(values[k])), float(res.x)


def ascend(x: torch.Tensor, decoder: str, steps: int, lr: float = LR) -> torch.Tensor:
    """The (θ, φ) path of plain gradient ascent on the mean ELBO, (steps + 1, 2)."""
    model = ScalarVAE(ScalarVAEConfig(decoder=decoder, sigma=SIGMA, theta=START[0], phi=START[1]))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    path = [(START[0], START[1])]
    for _ in range(steps):
        loss = model.loss({"x": x}, "model")["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        path.append((model.theta.item(), model.phi.item()))
    return torch.tensor(path, dtype=torch.float64)


def _section(decoder: str, r: dict, figure: Path) -> Section:
    rows = [["θ* (data) / θ_ML (max log p)", f"{r['theta_star']} / {r['theta_ml']:.4f}"],
            ["max over θ of log p − max_φ ELBO", r["max_best_gap"]],
            ["min over θ of log p − max_φ ELBO", r["min_best_gap"]],
            ["max |(log p − ELBO) − KL(q || p(z|x))|", r["max_gap_kl_error"]],
            ["end of ascent: θ, φ", f"{r['end_theta']:.4f}, {r['end_phi']:.4f}"],
            ["end of ascent: ELBO, log p(x), gap", f"{r['end_elbo']:.4f}, {r['end_log_px']:.4f}, {r['end_gap']:.3g}"],
            ["log p(x) at θ_ML", r["log_px_at_ml"]]]
    checks = [Check("gap = KL(q_φ(z|x) || p_θ(z|x)) by quadrature (to 1e-6)", r["max_gap_kl_error"] < 1e-6,
                    r["max_gap_kl_error"])]
    if decoder == "linear":
        rows.insert(1, ["max |log p by quadrature − closed form N(0, θ² + σ²)|", r["max_closed_form_error"]])
        checks += [Check("quadrature log p(x) = closed form (to 1e-8)", r["max_closed_form_error"] < 1e-8,
                         r["max_closed_form_error"]),
                   Check("each ELBO(θ; φ) curve touches log p(x) at θ = φ (gap < 1e-9)", abs(r["touch_gap"]) < 1e-9,
                         r["touch_gap"]),
                   Check("max gap between log p(x) and the best ELBO < 1e-3 nats", r["max_best_gap"] < 1e-3,
                         r["max_best_gap"])]
        text = ("q_φ is the exact posterior when φ = θ, so every ELBO curve touches the black curve there and the "
                "best ELBO is log p(x) itself; ascent ends on the diagonal, near θ_ML.")
    else:
        checks += [Check("no φ closes the gap at any θ: min over θ of the best gap > 1e-6 nats "
                         "(the quadrature error is ~1e-11)", r["min_best_gap"] > 1e-6, r["min_best_gap"]),
                   Check("the gap is clearly positive: max over θ of the best gap > 0.01 nats",
                         r["max_best_gap"] > 0.01, r["max_best_gap"])]
        shape = " (it has two modes, ±√(x/θ))" if decoder == "square" else " (it is skewed)"
        text = (f"The posterior is not in q's Gaussian family{shape}, so the best ELBO stays below log p(x) for "
                "every θ, and ELBO ascent stops at a θ that differs from θ_ML: the model is pulled towards "
                "posteriors q can fit.")
    return Section(f"f(z) = {_F[decoder]}", text=text, tables=[Table(["quantity", "value"], rows)],
                   figures=[(f"f(z) = {_F[decoder]}: curves, landscape with the ascent path, posterior vs q", figure)],
                   checks=checks)
