"""Generative adversarial networks with interchangeable objectives (objectives/adversarial.py).

Generative model:  z ~ N(0, I),  x = G(z)   (no likelihood: G is trained against a critic D)
One iteration:     n_critic steps of D on real x and G(z) (G fixed), then one step of G (D fixed).

loss            critic/discriminator step                                  generator step
minimax         -E log D(x) - E log(1 - D(G(z)))    (Goodfellow 2014, eq. 1)   E log(1 - D(G(z)))
nonsaturating   the same                            (Goodfellow 2014, §3)      -E log D(G(z))
least_squares   ½E(D(x) - b)² + ½E(D(G(z)) - a)²    (Mao 2017, eq. 2)          ½E(D(G(z)) - c)²
wgan_clip       E f(G(z)) - E f(x), then clip every weight of f to [-c, c]     -E f(G(z))   (Arjovsky 2017, Alg. 1)
wgan_gp         E f(G(z)) - E f(x) + λ E(‖∇f(x̂)‖ - 1)²  (Gulrajani 2017, Alg. 1)  -E f(G(z))

D(x) = sigmoid(D's output) for the two log losses; the least-squares and Wasserstein critics
use the raw output. Defaults are those of docs/protocols.md, section D: a = 0, b = c = 1; clip 0.01; λ = 10; five
critic steps for the Wasserstein losses, one for the others. The optimizers are the run's
[train] settings, the same for both phases (the protocol's WGAN-clip: RMSprop 5e-5; the
others: Adam 2e-4, β1 = 0.5; see the presets).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from latentlab.errors import UserError
from latentlab.fields import choice, nonnegative, nonnegative_int, number, positive, positive_int
from latentlab.models.base import Batch, GenerativeModel
from latentlab.nn import CriticMLP, DCGANCritic, DCGANGenerator, GeneratorMLP
from latentlab.objectives import adversarial as adv

WASSERSTEIN = ("wgan_clip", "wgan_gp")


@dataclass(frozen=True)
class GANConfig:
    name: str = choice("gan")
    loss: str = choice("nonsaturating", "minimax", "least_squares", "wgan_clip", "wgan_gp")
    net: str = choice("conv", "mlp")  # conv: DCGAN-style, images with H, W divisible by 4; mlp: any x (2-D data)
    z_dim: int = positive_int(64)
    channels: int = positive_int(32)  # conv: feature maps c and 2c
    fc: int = nonnegative_int(0)  # conv: width of a fully connected layer after z in G and before D's output (InfoGAN's nets); 0: none
    critic_norm: str = choice("none", "batch")  # conv: batch norm in D (DCGAN); not with wgan_gp's per-example penalty
    hidden: int = positive_int(128)  # mlp: width
    layers: int = positive_int(3)  # mlp: hidden layers of G and of D
    n_critic: int = nonnegative_int(0)  # critic steps per generator step; 0: the protocol's (5 for wgan_*, else 1)
    ls_a: float = number(0.0)  # least squares: target of D on generated data
    ls_b: float = number(1.0)  # ... on real data
    ls_c: float = number(1.0)  # ... the value G wants D to give its samples
    clip: float = positive(0.01)  # wgan_clip: every critic weight stays in [-clip, clip]
    gp_lambda: float = nonnegative(10.0)  # wgan_gp: λ


@contextmanager
def frozen(module: nn.Module):
    """Run a module without building gradients for its parameters (inputs still get theirs)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class GAN(GenerativeModel):
    """Generative adversarial network (Goodfellow et al. 2014) with interchangeable objectives.

    Generative model:  z ~ N(0, I),  x = G(z)   (no likelihood: G is trained against a critic D)
    One iteration:     n_critic steps of D on real x and G(z) with G fixed, then one step of G with D fixed;
                       e.g. nonsaturating: D minimises -E log D(x) - E log(1 - D(G(z))) (Goodfellow 2014,
                       eq. 1), G minimises -E log D(G(z)) (§3). `loss` picks minimax, nonsaturating,
                       least_squares (Mao 2017), wgan_clip (Arjovsky 2017) or wgan_gp (Gulrajani 2017):
                       the table in this module's docstring, objectives/adversarial.py.
    """

    def __init__(self, config: GANConfig, x_shape: tuple[int, ...]):
        super().__init__()
        self.config, self.x_shape = config, tuple(x_shape)
        self.critic_batch_norm = config.net == "conv" and config.critic_norm == "batch"
        if config.net == "conv":
            if len(self.x_shape) != 3:
                raise UserError(f"model.net = \"conv\" needs images (C, H, W), got x of shape {self.x_shape}; "
                                "use model.net = \"mlp\" for 2-D data")
            if self.critic_batch_norm and config.loss == "wgan_gp":
                raise UserError("model.critic_norm = \"batch\" mixes the examples of a batch, but wgan_gp's gradient "
                                "penalty is per example (Gulrajani et al. 2017, §4); use model.critic_norm = \"none\"")
            self.G = DCGANGenerator(config.z_dim, self.x_shape, config.channels, config.fc)
            self.D = DCGANCritic(self.x_shape, config.channels, config.fc, self.critic_batch_norm)
        else:
            self.G = GeneratorMLP(config.z_dim, self.x_shape, config.hidden, config.layers)
            self.D = CriticMLP(self.x_shape, config.hidden, config.layers)
        if config.n_critic < 0:
            raise UserError(f"model.n_critic must be >= 0 (0: the protocol's default), got {config.n_critic}")
        self.n_critic = config.n_critic or (5 if config.loss in WASSERSTEIN else 1)
        self.phases = ("critic",) * self.n_critic + ("generator",)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"critic": list(self.D.parameters()), "generator": list(self.G.parameters())}

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I), (n, Z)."""
        device = next(self.G.parameters()).device
        return torch.randn(n, self.config.z_dim, generator=generator, device=device)

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        """x = G(z), z ~ N(0, I): (n, *x_shape)."""
        return self.G(self.sample_z(n, generator))

    # -- the two phases
    def critic_loss(self, x: Tensor) -> dict[str, Tensor]:
        cfg = self.config
        with torch.no_grad():
            x_fake = self.G(self.sample_z(len(x)))  # (B, ...): G is fixed in this phase
        if self.critic_batch_norm:  # batch statistics of real and of generated data apart (DCGAN)
            real, fake = self.D(x), self.D(x_fake)  # (B,), (B,)
        else:
            real, fake = self.D(torch.cat([x, x_fake])).split(len(x))  # (B,), (B,): one pass
        if cfg.loss in ("minimax", "nonsaturating"):
            loss = adv.minimax_discriminator_loss(real, fake)
            return {"loss": loss, "d_real": torch.sigmoid(real).mean(), "d_fake": torch.sigmoid(fake).mean()}
        if cfg.loss == "least_squares":
            loss = adv.least_squares_discriminator_loss(real, fake, cfg.ls_a, cfg.ls_b)
            return {"loss": loss, "d_real": real.mean(), "d_fake": fake.mean()}
        loss = adv.wasserstein_critic_loss(real, fake)
        terms = {"w1_estimate": -loss.detach()}  # E f(x) - E f(G(z))
        if cfg.loss == "wgan_gp":
            gp = adv.gradient_penalty(self.D, x, x_fake)
            loss = loss + cfg.gp_lambda * gp
            terms["gp"] = gp
        return {"loss": loss, **terms}

    def generator_loss(self, n: int) -> dict[str, Tensor]:
        cfg = self.config
        with frozen(self.D):
            fake = self.D(self.G(self.sample_z(n)))  # (B,): gradients reach G only
        if cfg.loss == "minimax":
            loss = adv.minimax_generator_loss(fake)
        elif cfg.loss == "nonsaturating":
            loss = adv.nonsaturating_generator_loss(fake)
        elif cfg.loss == "least_squares":
            loss = adv.least_squares_generator_loss(fake, cfg.ls_c)
        else:
            loss = adv.wasserstein_generator_loss(fake)
        return {"loss": loss}

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        if phase == "critic":
            return self.critic_loss(batch["x"])
        if phase == "generator":
            return self.generator_loss(len(batch["x"]))
        raise ValueError(f"unknown phase {phase!r}; a GAN has phases 'critic' and 'generator'")

    @torch.no_grad()
    def after_step(self, phase: str) -> None:
        """Weight clipping of the Wasserstein critic, after each of its steps (Arjovsky et al. 2017, Alg. 1, line 7)."""
        if phase == "critic" and self.config.loss == "wgan_clip":
            for p in self.D.parameters():
                p.clamp_(-self.config.clip, self.config.clip)
