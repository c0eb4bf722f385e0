"""gan-theory: the theory of GANs made visible (docs/protocols.md, section D).

(a) For a fixed G the optimal discriminator is D*(x) = p_data/(p_data + p_g) for the log loss
    (Goodfellow et al. 2014, Prop. 1) and (b·p_data + a·p_g)/(p_data + p_g) for the squared loss
    (Mao et al. 2017, eq. 4). A flexible discriminator trained on fresh draws of two known 1-D
    densities is compared with both formulas where the densities are not negligible.
(b) At that optimum V(D*, G) = 2·JS(p_data ‖ p_g) - log 4 (Theorem 1): V of the learned D,
    by quadrature, against the exact value, over a family of p_g.
(c) Parallel segments µ₀ = (0, U[0,1]), µ_θ = (θ, U[0,1]) (Arjovsky et al. 2017, Example 1):
    JS = log 2 for θ ≠ 0 and W1 = |θ|. A WGAN-GP critic estimates W1 and its θ-gradient
    (≈ sign θ); a log-loss discriminator's JS estimate has a θ-gradient near 0.
(d) Mode collapse: minimax and non-saturating GANs against WGAN-GP on 8 and 25 Gaussians,
    trained with `latentlab train` (presets gan_8gaussians, wgan_gp_8gaussians); modes covered
    over training from the checkpoints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from latentlab.checks import Check
from latentlab.data import toy2d
from latentlab.evaluation.sample_metrics import mode_stats
from latentlab.nn import MLP
from latentlab.objectives import adversarial as adv
from latentlab.reporting.study import Section, Table
from latentlab.studies.base import Study, study
from latentlab.run.metrics import read_metrics
from latentlab.viz import adversarial as fig

MIXTURES = ("8gaussians", "25gaussians")  # the datasets of (d): the two 2-D mixtures whose modes are known exactly


@dataclass(frozen=True)
class Budget:
    """Adam steps of (a)'s discriminators, (b)'s and (c)'s critics, and their batch; (b)'s shifts μ, (c)'s θ;
    (d)'s generator iterations, checkpoint spacing, samples scored per checkpoint and data overrides."""

    d_steps: int
    v_steps: int
    seg_steps: int
    batch: int
    shifts: tuple[float, ...]
    thetas: tuple[float, ...]
    toy_iterations: int
    toy_every: int
    n_eval: int
    toy_data: tuple[str, ...] = ()


BUDGETS = {
    "quick": Budget(d_steps=30, v_steps=30, seg_steps=40, batch=256, shifts=(0.0, 2.0), thetas=(-1.0, 0.5, 1.0),
                    toy_iterations=20, toy_every=10, n_eval=500, toy_data=("data.n_train=2000", "data.n_test=500")),
    "standard": Budget(d_steps=4000, v_steps=1500, seg_steps=600, batch=2048, shifts=(0.0, 1.0, 2.0, 3.0, 4.0),
                       thetas=(-1.5, -1.0, -0.5, -0.25, 0.25, 0.5, 1.0, 1.5),
                       toy_iterations=3000, toy_every=250, n_eval=2000),
    "full": Budget(d_steps=8000, v_steps=4000, seg_steps=2000, batch=4096, shifts=tuple(np.arange(0, 4.01, 0.5).tolist()),
                   thetas=(-1.5, -1.0, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1.0, 1.5),
                   toy_iterations=20000, toy_every=1000, n_eval=2000),
}
GRID = torch.linspace(-8, 8, 4001, dtype=torch.float64)  # quadrature and plotting grid
NOT_NEGLIGIBLE = 0.02  # the error of (a) is measured where ½(p_data + p_g) ≥ this density
TOY_OBJECTIVES = {"minimax": ("gan_8gaussians", []), "nonsaturating": ("gan_8gaussians", ["model.loss=nonsaturating"]),
                  "wgan_gp": ("wgan_gp_8gaussians", [])}


def p_data() -> torch.distributions.Distribution:
    """½ N(-1.5, 0.5²) + ½ N(1, 0.7²): two bumps, so that D* is not monotone."""
    mix = torch.distributions.Categorical(torch.tensor([0.5, 0.5], dtype=torch.float64))
    comp = torch.distributions.Normal(torch.tensor([-1.5, 1.0], dtype=torch.float64), torch.tensor([0.5, 0.7], dtype=torch.float64))
    return torch.distributions.MixtureSameFamily(mix, comp)


def p_g(mu: float = 0.0, std: float = 1.0) -> torch.distributions.Distribution:
    return torch.distributions.Normal(torch.tensor(mu, dtype=torch.float64), torch.tensor(std, dtype=torch.float64))


def trapezoid(y: Tensor) -> float:
    return float(torch.trapezoid(y, GRID))


def js_exact(p, q) -> float:
    """JS(p ‖ q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = ½(p + q), by quadrature on GRID."""
    lp, lq = p.log_prob(GRID), q.log_prob(GRID)
    lm = torch.logaddexp(lp, lq) - math.log(2)
    return 0.5 * trapezoid(lp.exp() * (lp - lm)) + 0.5 * trapezoid(lq.exp() * (lq - lm))


def train_discriminator(p, q, loss: str, steps: int, batch: int, seed: int = 0) -> nn.Module:
    """An MLP 1 -> 128 -> 128 -> 1 (SiLU) minimising the discriminator loss of p (real) against q (fake), fresh draws each step."""
    torch.manual_seed(seed)
    net = MLP([1, 128, 128, 1], nn.SiLU)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        xr, xf = p.sample((batch, 1)).float(), q.sample((batch, 1)).float()
        real, fake = net(torch.cat([xr, xf])).squeeze(-1).split(batch)
        if loss == "log":
            value = adv.minimax_discriminator_loss(real, fake)
        else:
            a, b = {"ls_01": (0.0, 1.0), "ls_m11": (-1.0, 1.0)}[loss]
            value = adv.least_squares_discriminator_loss(real, fake, a, b)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        schedule.step()
    return net.eval()


def optimal_discriminators(s: Study, b: Budget) -> tuple[Section, dict]:
    """(a): the learned D for three losses against their formulas."""
    p, q = p_data(), p_g(0.0, 1.5)
    dp, dq = p.log_prob(GRID).exp(), q.log_prob(GRID).exp()  # (G,)
    mask = 0.5 * (dp + dq) >= NOT_NEGLIGIBLE
    losses = {"log": ("log loss (minimax)", r"$p_{data}/(p_{data}+p_g)$", 0.0, 1.0, True),
              "ls_01": ("squared loss, a=0, b=1 (protocol)", r"$(b\,p_{data}+a\,p_g)/(p_{data}+p_g)$", 0.0, 1.0, False),
              "ls_m11": ("squared loss, a=-1, b=1", r"$(b\,p_{data}+a\,p_g)/(p_{data}+p_g)$", -1.0, 1.0, False)}
    rows, panels, results, checks = [], [], {}, []
    for key, (title, label, a, bb, sigmoid) in losses.items():
        net = train_discriminator(p, q, key, b.d_steps, b.batch)
        with torch.no_grad():
            out_ = net(GRID.float()[:, None]).squeeze(-1).double()
        learned = torch.sigmoid(out_) if sigmoid else out_
        formula = (bb * dp + a * dq) / (dp + dq)
        err = float((learned - formula).abs()[mask].max())
        results[key] = err
        rows.append([title, label.replace("$", "").replace("\\,", "·"), err])
        checks.append(Check(f"(a) {title}: max |D - D*| ≤ 0.05 where ½(p_data + p_g) ≥ {NOT_NEGLIGIBLE}",
                            err <= 0.05, err))
        panels.append((title, learned.numpy(), formula.numpy(), "D* = " + label))
    lim = (GRID >= -5) & (GRID <= 5)
    path = fig.discriminator_fits(GRID[lim].numpy(), dp[lim].numpy(), dq[lim].numpy(),
                                  [(t, l[lim.numpy()], f[lim.numpy()], lab) for t, l, f, lab in panels],
                                  mask[lim].numpy(), s.out / "optimal_discriminator.png")
    x_range = GRID[mask]
    text = (f"p_data = ½N(-1.5, 0.5²) + ½N(1, 0.7²), p_g = N(0, 1.5²). An MLP 1-128-128-1 (SiLU) is trained for "
            f"{b.d_steps} Adam steps (3e-3, cosine decay) on {b.batch} fresh draws of each density per step. "
            f"The error is the maximum over the grid points where ½(p_data + p_g) ≥ {NOT_NEGLIGIBLE} "
            f"(x in [{float(x_range.min()):.2f}, {float(x_range.max()):.2f}]).")
    return Section("(a) The optimal discriminator", text, [Table(["loss", "formula D*", "max |D - D*|"], rows)],
                   [("learned D (dashed) against the formula (solid); densities shaded", path)], checks), results


def minimax_value(s: Study, b: Budget) -> tuple[Section, dict]:
    """(b): V(D_learned, G) against 2·JS - log 4 for p_g = N(μ, 1)."""
    p = p_data()
    lp = p.log_prob(GRID)
    rows, values, exacts = [], [], []
    for mu in b.shifts:
        q = p_g(mu, 1.0)
        net = train_discriminator(p, q, "log", b.v_steps, b.batch)
        with torch.no_grad():
            logits = net(GRID.float()[:, None]).squeeze(-1).double()
        v = trapezoid(lp.exp() * -torch.nn.functional.softplus(-logits)) + \
            trapezoid(q.log_prob(GRID).exp() * -torch.nn.functional.softplus(logits))
        js = js_exact(p, q)
        exact = 2 * js - math.log(4)
        values.append(v)
        exacts.append(exact)
        rows.append([f"{mu:g}", js, exact, v, v - exact])
    gap = float(np.abs(np.array(values) - np.array(exacts)).max())
    path = fig.value_vs_js(np.array(b.shifts), np.array(values), np.array(exacts), s.out / "minimax_value.png")
    text = (f"p_data as in (a), p_g = N(μ, 1). For each μ a log-loss discriminator is trained as in (a), for "
            f"{b.v_steps} steps; "
            "V(D, G) = E_p_data log D + E_p_g log(1 - D) is then integrated by quadrature (no sampling noise), "
            "as is JS. V(D, G) ≤ V(D*, G) for every D, so the gap is how far the learned D is from the optimum.")
    check = Check("(b) |V(D_learned, G) - (2·JS - log 4)| ≤ 0.02 nats for every μ", gap <= 0.02, gap)
    return Section("(b) The minimax value at the optimum", text,
                   [Table(["μ", "JS (nats)", "2·JS - log 4", "V(D_learned, G)", "gap"], rows)],
                   [("V at the learned optimum against 2·JS - log 4", path)], [check]), {"max_gap": gap}


def segment_draws(theta: Tensor | float, n: int) -> tuple[Tensor, Tensor]:
    """n draws of µ₀ = (0, U[0,1]) and of µ_θ = (θ, U[0,1]) (differentiable in θ), each (n, 2)."""
    u0, u1 = torch.rand(n), torch.rand(n)
    theta = torch.as_tensor(theta, dtype=torch.float32)
    return torch.stack([torch.zeros(n), u0], -1), torch.stack([theta.expand(n), u1], -1)


def gp_optimum(theta: float, lam: float = 10.0) -> float:
    """The WGAN-GP objective's optimum on the parallel segments, |θ|(1 + |θ|/(2λ)): the penalty is soft.

    A critic of slope k along x₁ between the segments earns k|θ| - λ(k - 1)² (every interpolate x̂ lies
    between them), which is largest at k = 1 + |θ|/(2λ): the estimate exceeds W1 by the factor k
    (10 % at |θ| = 2 for λ = 10), so the 10 % acceptance is checked for 0.5 ≤ |θ| ≤ 1.5.
    """
    return abs(theta) * (1 + abs(theta) / (2 * lam))


def train_segment_critic(theta: float, kind: str, steps: int, seed: int = 0) -> nn.Module:
    """A critic (WGAN-GP, λ = 10) or a log-loss discriminator between µ₀ (real) and µ_θ (fake): MLP 2-64-64-1."""
    torch.manual_seed(seed)
    net = MLP([2, 64, 64, 1], nn.ReLU)
    f = lambda x: net(x).squeeze(-1)  # noqa: E731
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.9))
    for _ in range(steps):
        x0, xt = segment_draws(theta, 256)
        real, fake = f(torch.cat([x0, xt])).split(256)
        if kind == "critic":
            loss = adv.wasserstein_critic_loss(real, fake) + 10.0 * adv.gradient_penalty(f, x0, xt)
        else:
            loss = adv.minimax_discriminator_loss(real, fake)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


def parallel_segments(s: Study, b: Budget) -> tuple[Section, dict]:
    """(c): W1 and JS of the parallel segments, exact and estimated, with their θ-gradients."""
    rows, w1_est, js_est, g_w1, g_js, checks = [], [], [], [], [], []
    worst = 0.0
    for theta in b.thetas:
        critic = train_segment_critic(theta, "critic", b.seg_steps)
        disc = train_segment_critic(theta, "discriminator", b.seg_steps)
        torch.manual_seed(1)
        t = torch.tensor(theta, requires_grad=True)
        x0, xt = segment_draws(t, 20_000)
        w1 = critic(x0).mean() - critic(xt).mean()  # Ŵ(θ) = E f(x₀) - E f(x_θ)
        (dw1,) = torch.autograd.grad(w1, t)
        t2 = torch.tensor(theta, requires_grad=True)
        x0, xt = segment_draws(t2, 20_000)
        js = adv.js_from_minimax_value(adv.minimax_value(disc(x0).squeeze(-1), disc(xt).squeeze(-1)).detach())
        v_fake = -torch.nn.functional.softplus(disc(xt).squeeze(-1)).mean()  # E log(1 - D(x_θ)): the θ-dependent half of V
        (djs,) = torch.autograd.grad(0.5 * v_fake, t2)  # d JS_est / dθ = ½ dV/dθ
        w1 = w1.detach()
        w1_est.append(float(w1))
        js_est.append(js)
        g_w1.append(float(dw1))
        g_js.append(float(djs))
        rel = abs(float(w1) - abs(theta)) / abs(theta)
        if abs(theta) >= 0.5:
            worst = max(worst, rel)
        rows.append([f"{theta:g}", abs(theta), gp_optimum(theta), float(w1), rel, float(dw1), math.log(2), js, float(djs)])
    checks.append(Check(f"(c) the critic's W1 estimate within 10 % of |θ| for every |θ| ≥ 0.5 "
                        f"(here up to {max(map(abs, b.thetas)):g})", worst <= 0.10, worst))
    thetas = np.array(b.thetas)
    path = fig.segments(thetas, {"W1 estimate (WGAN-GP critic)": np.array(w1_est),
                                 "JS estimate (log-loss discriminator)": np.array(js_est)},
                        {r"$d\hat W_1/d\theta$ (critic)": np.array(g_w1),
                         r"$d\hat{JS}/d\theta$ (discriminator)": np.array(g_js)}, s.out / "parallel_segments.png")
    text = (f"For each θ a critic (WGAN-GP, λ = 10) and a log-loss discriminator (MLPs 2-64-64-1, ReLU) are trained "
            f"for {b.seg_steps} Adam steps (1e-3, β = (0.5, 0.9)) on 256 fresh draws of each segment per step. "
            "Ŵ(θ) = E f(µ₀) - E f(µ_θ) and ĴS = (V(D) + log 4)/2 on 20,000 fresh draws; their derivatives in θ by "
            "autograd through x_θ = (θ, u) with the networks fixed — the signal a generator at θ would receive. "
            "The penalty is soft, so the critic's optimum is |θ|(1 + |θ|/2λ), not |θ| (see gp_optimum).")
    table = Table(["θ", "W1 = |θ|", "GP optimum |θ|(1 + |θ|/2λ)", "Ŵ1", "|Ŵ1 - |θ|| / |θ|", "dŴ1/dθ", "JS (exact)",
                   "ĴS", "dĴS/dθ"], rows)
    return Section("(c) Parallel segments: JS against W1", text, [table],
                   [("distances and their θ-gradients", path)], checks), \
        {"w1_worst_rel_err": worst, "w1_estimates": w1_est, "js_estimates": js_est, "dw1": g_w1, "djs": g_js}


def mode_collapse(s: Study, b: Budget) -> tuple[Section, dict]:
    """(d): three objectives on 8 and 25 Gaussians through `latentlab train`, modes covered over training."""
    curves, finals, panels, rows, times = {}, {}, {}, [], {}
    for dataset in MIXTURES:
        mixture = toy2d.mixture(dataset)
        curves[dataset] = {}
        for loss, (preset, extra) in TOY_OBJECTIVES.items():
            run = s.run(f"{loss}-{dataset}", preset,
                        [f"data.name={dataset}", f"train.iterations={b.toy_iterations}",
                         f"train.checkpoint_every={b.toy_every}", *b.toy_data, *extra], evaluate=False)
            times[f"{loss}-{dataset}"] = read_metrics(run.metrics_path)[-1]["time"]  # its training seconds
            steps, modes = [], []
            for step, checkpoint in run.checkpoints().items():
                model = run.load_model(s.device, checkpoint=checkpoint)
                with torch.no_grad():
                    x = model.sample(b.n_eval, generator=torch.Generator(device=next(model.parameters()).device)
                                     .manual_seed(0)).cpu()
                stats = mode_stats(x, mixture)
                steps.append(step)
                modes.append(stats["modes_covered"])
            curves[dataset][loss] = (np.array(steps), np.array(modes))
            finals[f"{loss}-{dataset}"] = {**stats, "modes_over_training": modes, "steps": steps}
            panels.setdefault(dataset, []).append((f"{loss}: {stats['modes_covered']}/{len(mixture.means)} modes, "
                                                   f"{100 * stats['within_3sigma']:.0f} % within 3σ", x))
            rows.append([dataset, loss, f"{stats['modes_covered']}/{len(mixture.means)}", stats["within_3sigma"],
                         f"{min(modes)}-{max(modes)}", times[f"{loss}-{dataset}"]])
    n_modes = {d: len(toy2d.mixture(d).means) for d in MIXTURES}
    figures = [("modes covered over training (from the checkpoints)",
                fig.modes_over_training(curves, n_modes, s.out / "modes_over_training.png"))]
    for dataset in MIXTURES:
        figures.append((f"{dataset}: {b.n_eval} samples at the end of training (+: the modes)",
                        fig.scatter_panels(panels[dataset], toy2d.mixture(dataset).means, 3,
                                           s.out / f"samples_{dataset}.png")))
    wgan8 = finals["wgan_gp-8gaussians"]["modes_covered"]
    checks = [Check("(d) WGAN-GP covers 8/8 modes of 8 Gaussians", wgan8 == 8, wgan8)]
    text = (f"Presets gan_8gaussians (minimax; non-saturating with model.loss) and wgan_gp_8gaussians (critic Adam 2e-4, "
            "generator 4e-5: the two time-scale rule), each for "
            f"{b.toy_iterations} generator iterations (batch 256, MLPs 3 × 128, z ~ N(0, I₂)), checkpointed every "
            f"{b.toy_every}; at each checkpoint {b.n_eval} samples (seed 0) are scored by "
            "evaluation/sample_metrics.mode_stats: a mode is covered when a sample lies within 3σ of its mean.")
    table = Table(["data", "objective", "modes covered (end)", "share within 3σ", "covered over training (min-max)",
                   "train s"], rows)
    return Section("(d) Mode collapse on mixtures", text, [table], figures, checks), {"runs": finals, "train_s": times}


@study("gan-theory", BUDGETS)
def run(s: Study, b: Budget) -> Path:
    """Parts (a)-(d) under the budget; returns the report's path. Part (d) trains first, so that a rerun into
    a folder whose runs have another config is refused before any work (every part seeds itself)."""
    results, sections = {}, {}
    for name, part in (("mode_collapse", mode_collapse), ("optimal_discriminator", optimal_discriminators),
                       ("minimax_value", minimax_value), ("parallel_segments", parallel_segments)):
        t = time.perf_counter()
        sections[name], results[name] = part(s, b)
        results[name]["seconds"] = round(time.perf_counter() - t, 1)
    order = ("optimal_discriminator", "minimax_value", "parallel_segments", "mode_collapse")  # (a)-(d)
    results = {name: results[name] for name in order}
    results["checks"] = [c for name in order for c in sections[name].checks]
    return s.finish(results, title="GAN theory, numerically", sections=[sections[name] for name in order],
                    intro=__doc__.split("\n\n", 1)[1].replace("\n", " "))
