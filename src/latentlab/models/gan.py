"""Generative adversarial networks with interchangeable objectives (objectives/adversarial.py).

Generative model:  z ~ N(0, I),  x = G(z)   (no likelihood: G is trained against a critic D)
One iteration:     n_critic steps of D on real x and G(z) (G fixed), then one step of G (D fixed).

`loss` names an entry of objectives/adversarial.py's LOSSES (minimax, nonsaturating, least_squares,
wgan_clip, wgan_gp), used at that table's scale, each paper's own; the table there writes the
equations. wgan_clip then clips every weight of the critic f to [-clip, clip] after each of its
steps (Arjovsky 2017, Alg. 1); wgan_gp adds λ E(‖∇f(x̂)‖ - 1)² to its loss (Gulrajani 2017, Alg. 1).

Defaults are those of docs/protocols.md, section D: a = 0, b = c = 1; clip 0.01; λ = 10; five
critic steps for the Wasserstein losses, one for the others. The optimizers are the run's
[train] settings, the same for both phases (the protocol's WGAN-clip: RMSprop 5e-5; the
others: Adam 2e-4, β1 = 0.5; see the presets).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from latentlab.errors import UserError
from latentlab.fields import choice, nonnegative_int, positive, positive_int
from latentlab.models.base import Batch, GenerativeModel
from latentlab.nn import CriticMLP, DCGANCritic, DCGANGenerator, GeneratorMLP, frozen
from latentlab.objectives import adversarial as adv


@dataclass(frozen=True)
class GANConfig:
    name: str = choice("gan")
    loss: str = adv.loss_field("nonsaturating")  # a name of objectives/adversarial.py's LOSSES
    net: str = choice("conv", "mlp")  # conv: DCGAN-style, images with H, W divisible by 4; mlp: any x (2-D data)
    z_dim: int = positive_int(64)
    channels: int = positive_int(32)  # conv: feature maps c and 2c
    fc: int = nonnegative_int(0)  # conv: width of a fully connected layer after z in G and before D's output (InfoGAN's nets); 0: none
    critic_norm: str = choice("none", "batch")  # conv: batch norm in D (DCGAN); not with wgan_gp's per-example penalty
    hidden: int = positive_int(128)  # mlp: width
    layers: int = positive_int(3)  # mlp: hidden layers of G and of D
    n_critic: int = nonnegative_int(0)  # critic steps per generator step; 0: the protocol's (5 for wgan_*, else 1)
    ls_a: float = adv.ls_a_field()  # least squares: target of D on generated data
    ls_b: float = adv.ls_b_field()  # ... on real data
    ls_c: float = adv.ls_c_field()  # ... the value G wants D to give its samples
    clip: float = positive(0.01)  # wgan_clip: every critic weight stays in [-clip, clip]
    gp_lambda: float = adv.gp_lambda_field()  # wgan_gp: λ


class GAN(GenerativeModel):
    """Generative adversarial network (Goodfellow et al. 2014) with interchangeable objectives.

    Generative model:  z ~ N(0, I),  x = G(z)   (no likelihood: G is trained against a critic D)
    One iteration:     n_critic steps of D on real x and G(z) with G fixed, then one step of G with D fixed;
                       e.g. nonsaturating: D minimises -E log D(x) - E log(1 - D(G(z))) (Goodfellow 2014,
                       eq. 1), G minimises -E log D(G(z)) (§3). `loss` picks minimax, nonsaturating,
                       least_squares (Mao 2017), wgan_clip (Arjovsky 2017) or wgan_gp (Gulrajani 2017):
                       the table of objectives/adversarial.py.
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
        self.L_D, self.L_G = adv.LOSSES[config.loss]  # the losses of the two players, at the table's scale
        self.targets = adv.Targets(config.ls_a, config.ls_b, config.ls_c)
        self.n_critic = config.n_critic or (5 if config.loss in adv.WASSERSTEIN else 1)
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
        loss = self.L_D(real, fake, self.targets)
        if cfg.loss in ("minimax", "nonsaturating"):
            return {"loss": loss, "d_real": torch.sigmoid(real).mean(), "d_fake": torch.sigmoid(fake).mean()}
        if cfg.loss == "least_squares":
            return {"loss": loss, "d_real": real.mean(), "d_fake": fake.mean()}
        terms = {"w1_estimate": -loss.detach()}  # E f(x) - E f(G(z))
        if cfg.loss == "wgan_gp":
            gp = adv.gradient_penalty(self.D, x, x_fake)
            loss = loss + cfg.gp_lambda * gp
            terms["gp"] = gp
        return {"loss": loss, **terms}

    def generator_loss(self, n: int) -> dict[str, Tensor]:
        with frozen(self.D):
            fake = self.D(self.G(self.sample_z(n)))  # (B,): gradients reach G only
        return {"loss": self.L_G(fake, self.targets)}

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
