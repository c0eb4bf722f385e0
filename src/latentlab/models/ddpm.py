"""Denoising diffusion probabilistic model (Ho et al. 2020) with ε-prediction.

Forward:   q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I),  ᾱ_t = Π_{s≤t} (1 - β_s)              (eq. 4)
Reverse:   p_θ(x_{t-1} | x_t) = N(μ̃_t(x_t, x̂_0(x_t, ε_θ)), σ_t² I),  σ_t² = β_t or β̃_t    (eq. 11, §3.2)
Objective: L_simple = E_{t, x_0, ε} ‖ε - ε_θ(√ᾱ_t x_0 + √(1-ᾱ_t) ε, t)‖²                      (eq. 14)
Score:     ∇ log p_t(x_t) ≈ -ε_θ(x_t, t)/√(1 - ᾱ_t)

The schedule and its constants are sampling/schedule.py's `NoiseSchedule`; the samplers are
sampling/ddpm.py (ancestral, Algorithm 2) and sampling/ddim.py (DDIM, Song et al. 2021, eq. 12).
ε_θ is nn.ScoreMLP for points and tables (model.net = "mlp") or nn_unet.UNet for images ("unet").
Images are diffused as pixels in [-1, 1] (x = 2·pixel - 1, Ho et al. 2020, §3.3): the loss and the
sampler see that scale, `sample` returns pixels in [0, 1] again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from latentlab.errors import UserError
from latentlab.fields import (EVEN_POSITIVE_INT, POSITIVE_INT, choice, declare, flag, list_of, nonnegative,
                              nonnegative_int, numbers, positive_int, probability)
from latentlab.models.base import Batch, GenerativeModel
from latentlab.nn import ScoreMLP
from latentlab.nn_unet import UNet
from latentlab.objectives.score_matching import eps_prediction_loss
from latentlab.sampling.ddim import ddim_sample
from latentlab.sampling.ddpm import Box, EpsFn, ancestral_sample
from latentlab.sampling.schedule import NoiseSchedule

BETA = numbers(0.0, 1.0, lo_open=True, hi_open=True, text="a number in (0, 1)")
# rows of one U-Net call while sampling: ~0.8 MB of activations a row for ddpm_mnist (measured peak RSS +0.83 GB
# at 1,000 rows), so 10,000 guided samples (20,000 rows a step) run in 40 calls of ≤ 512 rows, not one of 16 GB
SAMPLE_CHUNK = 512
EMPTY = 2**62  # the data box before any training x is seen: low = EMPTY, high = -EMPTY (no clipping)


@dataclass(frozen=True)
class DDPMConfig:
    name: str = choice("ddpm")
    timesteps: int = positive_int(1000)  # T
    schedule: str = choice("linear", "cosine")
    beta_start: float = declare(1e-4, BETA)  # linear schedule at T = 1000 (scaled by 1000/T otherwise)
    beta_end: float = declare(0.02, BETA)
    variance: str = choice("beta", "posterior")  # σ_t² of the ancestral step: β_t or β̃_t
    net: str = choice("mlp", "unet")  # ε_θ: the MLP (points, tables) or the U-Net (images)
    hidden: int = positive_int(128)  # mlp: width
    blocks: int = nonnegative_int(3)  # mlp: residual layers
    emb_dim: int = declare(32, EVEN_POSITIVE_INT)  # mlp: sinusoidal embedding of t
    x_freqs: int = nonnegative_int(4)  # mlp: Fourier features of x at π·2^j, j < x_freqs (0: x only); they sharpen 2-D fields
    channels: int = positive_int(32)  # unet: the base width
    channel_mult: tuple[int, ...] = list_of((1, 2, 2), POSITIVE_INT, nonempty=True)  # unet: width per resolution
    res_blocks: int = positive_int(2)  # unet: residual blocks per resolution
    attention: bool = flag(True)  # unet: self-attention at the lowest resolution
    conditional: bool = flag(False)  # train on labels y (batches carry "y"): a class embedding (unet)
    n_classes: int = positive_int(10)
    label_dropout: float = probability(0.1)  # P(y -> the null class ∅) in training (Ho & Salimans 2022)
    guidance: float = nonnegative(0.0)  # w of classifier-free guidance when sampling: (1 + w) ε(x, y) - w ε(x, ∅)
    sampler: str = choice("ancestral", "ddim")
    ddim_steps: int = positive_int(50)  # network calls of DDIM (<= T)
    ddim_eta: float = probability(0.0)  # η: 0 deterministic, 1 the ancestral posterior's variance (eq. 16)
    ddim_spacing: str = choice("uniform", "quadratic")
    # clamp the predicted x̂_0 to the data's range while sampling: [-1, 1] for images, for points and
    # tables the smallest box with integer corners that holds every training x seen
    clip_x0: bool = flag(True)

    def broken_rules(self) -> Iterator[tuple[str, str]]:
        """(field, what it accepts) for each rule between fields these values break."""
        if self.schedule == "linear" and self.beta_end < self.beta_start:
            yield "beta_end", f"a number >= model.beta_start ({self.beta_start}): the linear schedule rises"
        if self.sampler == "ddim" and self.ddim_steps > self.timesteps:
            yield "ddim_steps", f"an integer in [1, model.timesteps = {self.timesteps}]: DDIM skips steps, never adds them"
        if self.conditional and self.net != "unet":
            yield "conditional", "false with model.net = \"mlp\": class conditioning is the U-Net's (model.net = \"unet\")"
        if self.guidance > 0 and not self.conditional:
            yield "guidance", "0 without labels: guidance needs model.conditional = true"

    def broken_data_rules(self, data) -> Iterator[tuple[str, str]]:
        """(field, what it accepts) for each rule these values break on the data a config names (a DataPlan:
        .name, .kind; kind None where only the file tells, and the U-Net refuses a table when it is built)."""
        if self.net == "unet" and data.kind in ("points", "table"):
            yield "net", (f"\"mlp\" for data.name = \"{data.name}\" ({data.kind}): the U-Net takes images (C, H, W), "
                          "the MLP points and tables")


class DDPM(GenerativeModel):
    """Denoising diffusion probabilistic model (Ho et al. 2020) with ε-prediction.

    Forward:   q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I),  ᾱ_t = Π_{s≤t} (1 - β_s)                    (eq. 4)
    Reverse:   p_θ(x_{t-1} | x_t) = N(μ̃_t(x_t, x̂_0(x_t, ε_θ)), σ_t² I),  σ_t² = β_t or β̃_t,  x_T ~ N(0, I)
               (eqs. 6-7, 11, §3.2); sampled by sampling/ddpm.py (Algorithm 2) or sampling/ddim.py (eq. 12)
    Objective: L_simple = E_{t, x_0, ε} ‖ε - ε_θ(√ᾱ_t x_0 + √(1-ᾱ_t) ε, t)‖²                           (eq. 14)
    Conditional (model.conditional): ε_θ(x_t, t, y), y replaced by the null class ∅ with probability
    label_dropout in training; sampled with ε̃ = (1 + w) ε_θ(x_t, t, y) - w ε_θ(x_t, t, ∅)
    (classifier-free guidance, Ho & Salimans 2022, eq. 6).
    """

    def __init__(self, config: DDPMConfig, x_shape: tuple[int, ...]):
        super().__init__()
        self.config, self.x_shape = config, tuple(x_shape)
        self.num_timesteps = config.timesteps
        self.images = len(self.x_shape) == 3
        self.n_classes = config.n_classes if config.conditional else 0
        self.batch_keys = ("x", "y") if config.conditional else ("x",)
        if config.net == "unet":
            self.net = UNet(self.x_shape, config.channels, config.channel_mult, config.res_blocks, config.attention,
                            self.n_classes)
        else:
            self.net = ScoreMLP(math.prod(self.x_shape), config.hidden, config.blocks, config.emb_dim, config.x_freqs)
        schedule = NoiseSchedule.build(config.schedule, config.timesteps, config.beta_start, config.beta_end)
        for name, value in schedule.tensors().items():  # every constant once, float64 -> float32 buffers
            self.register_buffer(name, value)
        if not self.images:  # the box of the training x (integer corners: the weight average leaves them alone)
            self.register_buffer("x_low", torch.full(self.x_shape, EMPTY, dtype=torch.long))
            self.register_buffer("x_high", torch.full(self.x_shape, -EMPTY, dtype=torch.long))
            self.register_load_state_dict_pre_hook(_keep_box_when_absent)

    @property
    def schedule(self) -> NoiseSchedule:
        """The frozen schedule, over this model's buffers (its device, its state)."""
        return NoiseSchedule.of(self)

    # -- the mathematics
    def q_sample(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, a draw from q(x_t | x_0) (eq. 4)."""
        return self.schedule.q_sample(x0, t, eps)

    def eps_hat(self, x_t: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """ε_θ(x_t, t[, y]), shaped like x_t; t (B,) int64 in [0, T); y (B,) labels, n_classes for ∅."""
        c = t.float() * (1000 / self.num_timesteps)
        if self.config.net == "unet":
            return self.net(x_t, c, y)
        return self.net(x_t.flatten(1), c).view_as(x_t)

    def p_losses(self, x0: Tensor, t: Tensor, eps: Tensor, y: Tensor | None = None) -> Tensor:
        """L_simple at the given t and ε (eq. 14)."""
        return eps_prediction_loss(self.eps_hat(self.q_sample(x0, t, eps), t, y), eps)

    def score(self, x_t: Tensor, t: Tensor) -> Tensor:
        """∇_{x_t} log p_t(x_t) ≈ -ε_θ(x_t, t)/√(1 - ᾱ_t)."""
        return -self.eps_hat(x_t, t) / self.schedule.at("sqrt_one_minus_alpha_bar", t, x_t)

    def smoothed_score(self, x: Tensor, level: int) -> Tensor:
        """∇_x log p_σ(x) at σ = σ_t: x_t = √ᾱ_t x, so the score is √ᾱ_t ∇ log p_t(√ᾱ_t x)."""
        t = torch.full((x.shape[0],), level, device=x.device, dtype=torch.long)
        a = self.sqrt_alpha_bar[level]
        return a * self.score(a * x, t)

    def guided_eps(self, y: Tensor | None, w: float) -> EpsFn:
        """(x_t, t) -> ε̃ = (1 + w) ε_θ(x_t, t, y) - w ε_θ(x_t, t, ∅) (Ho & Salimans 2022, eq. 6); w = 0: ε_θ(x_t, t, y).

        The U-Net sees at most SAMPLE_CHUNK rows a call (a guided x_t two rows: y and ∅), so sampling any n keeps
        its activations bounded; the sampler's state and random numbers stay those of all n at once."""
        guided = y is not None and w != 0
        rows = (max(1, SAMPLE_CHUNK // 2) if guided else SAMPLE_CHUNK) if self.config.net == "unet" else None

        def eps_rows(x: Tensor, t: Tensor, y: Tensor | None) -> Tensor:
            if not guided:
                return self.eps_hat(x, t, y)
            null = torch.full_like(y, self.n_classes)
            both = self.eps_hat(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))  # (2B, ...) in one call
            eps_y, eps_null = both.chunk(2)
            return (1 + w) * eps_y - w * eps_null

        def eps(x: Tensor, t: Tensor) -> Tensor:
            if rows is None or len(x) <= rows:
                return eps_rows(x, t, y)
            return torch.cat([eps_rows(x[i: i + rows], t[i: i + rows], None if y is None else y[i: i + rows])
                              for i in range(0, len(x), rows)])

        return eps

    def to_model(self, x: Tensor) -> Tensor:
        """Data -> the space the chain runs in: pixels in [0, 1] -> [-1, 1] (Ho et al. 2020, §3.3); points as they are."""
        return 2 * x - 1 if self.images else x

    def to_data(self, x: Tensor) -> Tensor:
        """The chain's space -> data: the inverse of `to_model`."""
        return (x + 1) / 2 if self.images else x

    def x0_range(self) -> Box | None:
        """The range x̂_0 is clipped to (model.clip_x0): [-1, 1] for images, the training data's box otherwise."""
        if not self.config.clip_x0:
            return None
        if self.images:
            return -1.0, 1.0
        if bool((self.x_low > self.x_high).any()):  # no training x seen yet
            return None
        return self.x_low.float(), self.x_high.float()

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        x0 = self.to_model(batch["x"])
        t = torch.randint(self.num_timesteps, (x0.shape[0],), device=x0.device)
        y = None
        if self.n_classes:
            drop = torch.rand(x0.shape[0], device=x0.device) < self.config.label_dropout
            y = torch.where(drop, torch.full_like(batch["y"], self.n_classes), batch["y"])  # ∅ with p = label_dropout
        if not self.images:
            self._widen_box(x0)
        loss = self.p_losses(x0, t, torch.randn_like(x0), y)
        return {"loss": loss, "eps_mse": loss}

    @torch.no_grad()
    def _widen_box(self, x0: Tensor) -> None:
        self.x_low.copy_(torch.minimum(self.x_low, x0.min(0).values.floor().long()))
        self.x_high.copy_(torch.maximum(self.x_high, x0.max(0).values.ceil().long()))

    def _labels(self, n: int, y: Tensor | None, w: float | None, generator) -> tuple[Tensor | None, float]:
        """The labels and the guidance scale to sample with: uniform labels where none are given."""
        w = self.config.guidance if w is None else float(w)
        if not self.n_classes:
            if y is not None or w > 0:
                raise UserError("guidance and labels need a class-conditional model: train it with "
                                "model.conditional = true on labelled data")
            return None, 0.0
        if y is None:
            y = torch.randint(self.n_classes, (n,), generator=generator, device=self.betas.device)
        return y.to(self.betas.device), w

    def _sample(self, n: int, generator, trajectory: bool, y: Tensor | None = None, w: float | None = None):
        x_T = torch.randn(n, *self.x_shape, generator=generator, device=self.betas.device)
        y, w = self._labels(n, y, w, generator)
        c, eps = self.config, self.guided_eps(y, w)
        if c.sampler == "ddim":
            return ddim_sample(eps, self.schedule, x_T, steps=c.ddim_steps, eta=c.ddim_eta, spacing=c.ddim_spacing,
                               clip=self.x0_range(), generator=generator, return_trajectory=trajectory)
        return ancestral_sample(eps, self.schedule, x_T, variance=c.variance, clip=self.x0_range(),
                                generator=generator, return_trajectory=trajectory)

    def sample(self, n: int, *, generator: torch.Generator | None = None, y: Tensor | None = None,
               w: float | None = None, **cond) -> Tensor:
        """x_0 ~ p_θ from x_T ~ N(0, I) by model.sampler, as data (images: pixels in [0, 1]); a conditional
        model's for labels y (n,) (uniform where none are given), guided with scale w (default model.guidance).
        Any n fits in memory: x_T, the labels and every step's noise are drawn for all n at once from `generator`,
        and the U-Net takes them SAMPLE_CHUNK rows a call, so the samples are those of one call up to the float
        rounding of batched kernels (~1e-6 a call)."""
        return self.to_data(self._sample(n, generator, False, y, w))

    def sample_trajectory(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None,
                          w: float | None = None) -> Tensor:
        """The sampler's path, (steps + 1, n, ...), from x_T to x_0, in the chain's space (images: [-1, 1])."""
        return self._sample(n, generator, True, y, w)[1]


def _keep_box_when_absent(module: DDPM, state_dict: dict, prefix: str, *_) -> None:
    """A state without the data box (a run saved before the box, or the weight average) keeps the model's own."""
    for name in ("x_low", "x_high"):
        state_dict.setdefault(prefix + name, getattr(module, name).clone())
