"""CycleGAN: unpaired image-to-image translation between two domains X and Y (Zhu et al. 2017)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from latentlab.errors import UserError
from latentlab.fields import choice, nonnegative, nonnegative_int, positive, positive_int
from latentlab.models.base import Batch, GenerativeModel
from latentlab.models.history_pool import HistoryPool
from latentlab.nn import frozen
from latentlab.nn_image import PatchGANDiscriminator, ResNetGenerator, init_normal
from latentlab.objectives import adversarial as adv
from latentlab.objectives.cycle import cycle_consistency_loss, identity_loss


@dataclass(frozen=True)
class CycleGANConfig:
    name: str = choice("cyclegan")
    loss: str = adv.loss_field("least_squares", leave_out=("wgan_clip",))  # a name of objectives/adversarial.py's LOSSES
    ngf: int = positive_int(64)  # generator width: c7s1-ngf, d(2ngf), d(4ngf), R(4ngf)...
    n_blocks: int = nonnegative_int(9)  # residual blocks: 9 at 256 px, 6 at 128 px (the paper)
    upsampling: str = choice("transpose", "resize")  # generator's uk: fractional-strided conv (the paper) or resize-conv
    ndf: int = positive_int(64)  # discriminator width: C(ndf)-C(2ndf)-...
    n_layers: int = positive_int(3)  # PatchGAN depth: 3 sees 70×70 patches
    lambda_cycle: float = nonnegative(10.0)  # λ of the cycle-consistency loss
    lambda_identity: float = nonnegative(0.5)  # weight of the identity loss as a fraction of λ (0.5·λ = 5); 0 turns it off
    pool_size: int = nonnegative_int(50)  # generated images kept per domain for the discriminators; 0: none
    ls_a: float = adv.ls_a_field()  # least squares: target of D on generated images
    ls_b: float = adv.ls_b_field()  # ... on real images
    ls_c: float = adv.ls_c_field()  # ... the value the generators want D to give their images
    gp_lambda: float = adv.gp_lambda_field()  # wgan_gp: λ of the gradient penalty
    init_std: float = positive(0.02)  # convolution weights ~ N(0, init_std²)


class CycleGAN(GenerativeModel):
    """Two generators G: X -> Y and F: Y -> X, two discriminators D_Y (on Y) and D_X (on X).

    The two domains keep the batch's names: x is an image of X, x_b an image of Y (the paper's y ∈ Y).
    The full objective (Zhu et al. 2017, eqs. 1-3, and the identity loss of §5.2), in the paper's y:

        L(G, F, D_X, D_Y) = L_GAN(G, D_Y, X, Y) + L_GAN(F, D_X, Y, X) + λ L_cyc(G, F) + 0.5·λ L_identity(G, F)
        L_GAN(G, D_Y, X, Y) = E_y log D_Y(y) + E_x log(1 - D_Y(G(x)))                       (eq. 1)
        L_cyc(G, F)       = E_x ‖F(G(x)) - x‖₁ + E_y ‖G(F(y)) - y‖₁                         (eq. 2)
        L_identity(G, F)  = E_y ‖G(y) - y‖₁ + E_x ‖F(x) - x‖₁                               (§5.2)
        G*, F* = arg min_{G,F} max_{D_X,D_Y} L                                                  (eq. 3)

    with ‖·‖₁ averaged per pixel (objectives/cycle.py). The adversarial terms are the table of
    objectives/adversarial.py (`loss`) with the paper's factors (§4), applied once in `__init__`:
    - least squares is written without Mao's ½, so at twice the table's scale: G minimises
      E_x (D_Y(G(x)) - c)², D_Y minimises E_y (D_Y(y) - b)² + E_x (D_Y(G(x)) - a)² (a = 0, b = c = 1);
      the paper's λ = 10 is set against that generator term;
    - "we divide the objective by 2 while optimizing D": every discriminator term is halved, the
      gradient penalty of wgan_gp with it.
    D's output is one score per 70×70 patch, averaged like the examples.

    One iteration, as in the reference implementation: a step of G and F together on the whole
    objective (the discriminators fixed), then a step of D_X and D_Y together. The
    discriminators see real images and generated ones drawn through a history pool of 50 per
    domain (models/history_pool.py); the generated images of the discriminator step are made
    again, without gradients, by the just-updated G and F from that phase's batch, so each phase
    is a function of its own batch. Weights ~ N(0, 0.02²). The data arrive in [0, 1] and are
    scaled to [-1, 1] (the tanh range) inside the model.
    """

    phases = ("generator", "discriminator")
    batch_keys = ("x", "x_b")

    def __init__(self, config: CycleGANConfig, x_shape: tuple[int, ...]):
        super().__init__()
        if len(x_shape) != 3 or x_shape[1] % 4 or x_shape[2] % 4:
            raise UserError(f"CycleGAN needs images (C, H, W) with H and W divisible by 4, got {tuple(x_shape)}")
        self.config, self.x_shape = config, tuple(x_shape)
        c = x_shape[0]
        self.G = ResNetGenerator(c, config.ngf, config.n_blocks, config.upsampling)  # X -> Y
        self.F = ResNetGenerator(c, config.ngf, config.n_blocks, config.upsampling)  # Y -> X
        self.D_X = PatchGANDiscriminator(c, config.ndf, config.n_layers)
        self.D_Y = PatchGANDiscriminator(c, config.ndf, config.n_layers)
        for net in (self.G, self.F, self.D_X, self.D_Y):
            init_normal(net, config.init_std)
        # the pools' seeds come from the global stream (seeded with train.seed), drawn after every
        # network's initial weights so that those are the same with and without pools
        seed_X, seed_Y = torch.randint(2**62, (2,)).tolist()
        self.pool_X = HistoryPool(self.x_shape, config.pool_size, seed=seed_X)  # generated X images, F(x_b)
        self.pool_Y = HistoryPool(self.x_shape, config.pool_size, seed=seed_Y)  # generated Y images, G(x)
        self.L_D, self.L_G = adv.LOSSES[config.loss]
        self.targets = adv.Targets(config.ls_a, config.ls_b, config.ls_c)
        # Zhu et al. 2017, §4: least squares without Mao's ½ (twice the table's), the discriminators' objective halved
        paper = 2.0 if config.loss == "least_squares" else 1.0
        self.generator_scale, self.discriminator_scale = paper, paper / 2

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        return {"generator": [*self.G.parameters(), *self.F.parameters()],
                "discriminator": [*self.D_X.parameters(), *self.D_Y.parameters()]}

    # -- the adversarial terms at the paper's scale (see the class docstring)
    def adversarial_generator_term(self, fake_out: Tensor) -> Tensor:
        """A generator's adversarial loss given D's patch scores of its images, (B, 1, h, w)."""
        return self.generator_scale * self.L_G(fake_out, self.targets)

    def discriminator_term(self, D: torch.nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        """D's loss on real images and generated ones of its domain, (B, C, H, W) each."""
        real_out, fake_out = D(torch.cat([real, fake])).split(len(real))  # (B, 1, h, w) each; IN is per image
        loss = self.L_D(real_out, fake_out, self.targets)
        if self.config.loss == "wgan_gp":
            critic = lambda t: D(t).flatten(1).mean(1)  # noqa: E731  f(x): the mean patch score, (B,)
            loss = loss + self.config.gp_lambda * adv.gradient_penalty(critic, real, fake)
        return self.discriminator_scale * loss

    # -- the two phases
    def generator_loss(self, x: Tensor, x_b: Tensor) -> dict[str, Tensor]:
        cfg, n = self.config, len(x)
        identity = cfg.lambda_identity > 0
        with frozen(self.D_X), frozen(self.D_Y):
            if identity:  # G(x) and G(x_b) in one pass (instance norm treats each image alone), F likewise
                G_x, G_x_b = self.G(torch.cat([x, x_b])).split(n)  # (B, C, H, W) each
                F_x_b, F_x = self.F(torch.cat([x_b, x])).split(n)
            else:
                G_x, F_x_b = self.G(x), self.F(x_b)
            x_cycled, x_b_cycled = self.F(G_x), self.G(F_x_b)  # F(G(x)), G(F(x_b))
            gan_G = self.adversarial_generator_term(self.D_Y(G_x))
            gan_F = self.adversarial_generator_term(self.D_X(F_x_b))
        cycle = cycle_consistency_loss(x, x_cycled, x_b, x_b_cycled)
        loss = gan_G + gan_F + cfg.lambda_cycle * cycle
        terms = {"gan_G": gan_G, "gan_F": gan_F, "cycle": cycle}
        if identity:
            terms["identity"] = identity_loss(x, F_x, x_b, G_x_b)
            loss = loss + cfg.lambda_identity * cfg.lambda_cycle * terms["identity"]
        return {"loss": loss, **terms}

    def discriminator_loss(self, x: Tensor, x_b: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():
            fake_Y = self.pool_Y.query(self.G(x))  # (B, C, H, W): generated images of Y, through the history
            fake_X = self.pool_X.query(self.F(x_b))
        d_Y = self.discriminator_term(self.D_Y, x_b, fake_Y)
        d_X = self.discriminator_term(self.D_X, x, fake_X)
        return {"loss": d_X + d_Y, "d_X": d_X, "d_Y": d_Y}

    # -- the contract
    def loss(self, batch: Batch, phase: str) -> dict[str, Tensor]:
        if "x_b" not in batch:
            raise UserError("CycleGAN trains on unpaired batches (x from domain X, x_b from domain Y); "
                            "use a two-domain dataset such as data.name = \"apple2orange\"")
        x, x_b = 2 * batch["x"] - 1, 2 * batch["x_b"] - 1  # [0, 1] -> [-1, 1]
        if phase == "generator":
            return self.generator_loss(x, x_b)
        if phase == "discriminator":
            return self.discriminator_loss(x, x_b)
        raise ValueError(f"unknown phase {phase!r}; CycleGAN has phases 'generator' and 'discriminator'")

    @torch.no_grad()
    def translate(self, x: Tensor | None = None, x_b: Tensor | None = None) -> Tensor:
        """G(x) for images x of X, or F(x_b) for images x_b of Y; pixels in [0, 1] in and out."""
        if (x is None) == (x_b is None):
            raise ValueError("translate takes exactly one of x (domain X) and x_b (domain Y)")
        net, images = (self.G, x) if x is not None else (self.F, x_b)
        return (net(2 * images - 1) + 1) / 2

    def sample(self, n: int, *, generator: torch.Generator | None = None, **cond) -> Tensor:
        """CycleGAN draws nothing from noise: the translations of the first n images of x (by G) or x_b (by F)."""
        if not cond.keys() & {"x", "x_b"}:
            raise UserError("CycleGAN translates images rather than sampling them: pass x (domain X) or x_b (domain Y)")
        return self.translate(**{k: v[:n] for k, v in cond.items() if k in ("x", "x_b")})
