"""CycleGAN: each loss equals its formula, the history pool behaves as specified, the networks have the
paper's shapes and receptive field, and each phase trains exactly its own parameters."""

import math

import pytest
import torch
from torch import nn

from latentlab.registry import build_config as build
from latentlab.errors import UserError
from latentlab.models.cyclegan import CycleGAN, CycleGANConfig
from latentlab.models.history_pool import HistoryPool
from latentlab.nn_image import PatchGANDiscriminator, ResNetGenerator, init_normal, receptive_field
from latentlab.objectives.cycle import cycle_consistency_loss, identity_loss
from latentlab.registry import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**kw) -> CycleGAN:
    return CycleGAN(CycleGANConfig(ngf=4, n_blocks=1, ndf=4, **kw), (3, 32, 32))


def batch(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(n, 3, size, size, generator=g), "x_b": torch.rand(n, 3, size, size, generator=g)}


# ----------------------------------------------------------------------------- objectives


def test_cycle_and_identity_losses_equal_their_formulas():
    x, y = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    x_cycled = torch.tensor([0.5, -0.5, 1.0, 0.0]).view(1, 1, 2, 2).expand(2, 1, 2, 2)  # mean |.| = 0.5
    y_cycled = torch.full((2, 1, 2, 2), 0.75)  # mean |.| = 0.25
    assert cycle_consistency_loss(x, x_cycled, y, y_cycled).item() == pytest.approx(0.5 + 0.25)
    assert identity_loss(x, x_cycled, y, y_cycled).item() == pytest.approx(0.5 + 0.25)


def test_cycle_and_identity_terms_vanish_for_identity_generators():
    model = tiny(pool_size=0)
    model.G, model.F = nn.Identity(), nn.Identity()
    terms = model.loss(batch(), "generator")
    assert terms["cycle"].item() == 0.0 and terms["identity"].item() == 0.0
    # then the loss is the two adversarial terms alone
    assert terms["loss"].item() == pytest.approx((terms["gan_G"] + terms["gan_F"]).item())


def _as_D(out_real, out_fake):
    """A 'discriminator' returning fixed patch maps for the concatenated (real, fake) batch."""
    return lambda t: torch.cat([out_real, out_fake])


REAL = torch.tensor([[0.9, 0.2], [0.4, 1.3]]).view(2, 1, 1, 2)  # (B, 1, h, w) patch maps
FAKE = torch.tensor([[0.1, -0.3], [0.6, 0.0]]).view(2, 1, 1, 2)


@pytest.mark.parametrize("a, b, c", [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0)])
def test_least_squares_terms_are_the_papers_with_the_discriminator_halved(a, b, c):
    model = tiny(ls_a=a, ls_b=b, ls_c=c)
    d = model.discriminator_term(_as_D(REAL, FAKE), REAL, FAKE)
    assert d.item() == pytest.approx(0.5 * ((REAL - b) ** 2).mean().item() + 0.5 * ((FAKE - a) ** 2).mean().item())
    assert model.adversarial_generator_term(FAKE).item() == pytest.approx(((FAKE - c) ** 2).mean().item())


def test_log_loss_terms_equal_their_formulas():
    s = torch.sigmoid
    minimax = tiny(loss="minimax")
    d = minimax.discriminator_term(_as_D(REAL, FAKE), REAL, FAKE)
    expected = 0.5 * (-torch.log(s(REAL)).mean() - torch.log(1 - s(FAKE)).mean())
    assert d.item() == pytest.approx(expected.item(), rel=1e-6)
    assert minimax.adversarial_generator_term(FAKE).item() == pytest.approx(torch.log(1 - s(FAKE)).mean().item())
    ns = tiny(loss="nonsaturating").adversarial_generator_term(FAKE)
    assert ns.item() == pytest.approx(-torch.log(s(FAKE)).mean().item(), rel=1e-6)


def test_wgan_gp_term_is_the_halved_critic_loss_plus_penalty():
    model = tiny(loss="wgan_gp", gp_lambda=10.0)
    real, fake = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    w = torch.full((3, 4, 4), 1 / math.sqrt(48))  # f(x) = <w, x>, ‖∇f‖ = 1: the penalty vanishes
    D = lambda t: (t * w).sum((1, 2, 3)).view(-1, 1, 1, 1)  # noqa: E731
    expected = 0.5 * (D(fake).mean() - D(real).mean())
    assert model.discriminator_term(D, real, fake).item() == pytest.approx(expected.item(), abs=1e-6)
    assert model.adversarial_generator_term(FAKE).item() == pytest.approx(-FAKE.mean().item())


# ----------------------------------------------------------------------------- the history pool


def _images(values):
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1)


def test_pool_returns_new_images_until_full_then_past_ones_with_probability_one_half():
    size, n = 50, 4000
    pool = HistoryPool((1, 1, 1), size, seed=0)
    assert torch.equal(pool.query(_images(range(size))), _images(range(size)))  # filling: returned as they are
    past = 0
    for k in range(size, size + n):
        stored = set(pool.images.flatten().tolist())
        out = pool.query(_images([k])).item()
        if out != k:
            past += 1
            assert out in stored and out < k  # an earlier image, taken out of the pool ...
            assert k in pool.images.flatten().tolist() and out not in pool.images.flatten().tolist()  # ... k in its slot
    # past ~ Binomial(n, ½): mean 2000, sd √n/2 ≈ 31.6; ±5 sd fails a fair pool with probability < 1e-6
    assert abs(past - n / 2) < 5 * math.sqrt(n) / 2, past


def test_pool_state_round_trips_through_state_dict():
    a = HistoryPool((1, 2, 2), 5, seed=3)
    for i in range(4):
        a.query(torch.rand(3, 1, 2, 2))
    b = HistoryPool((1, 2, 2), 5, seed=99)
    b.load_state_dict(a.state_dict())
    for i in range(6):
        x = torch.rand(2, 1, 2, 2)
        assert torch.equal(a.query(x), b.query(x))
    assert torch.equal(a.images, b.images) and int(a.count) == int(b.count) == 5


def test_pool_size_zero_passes_images_through():
    x = torch.rand(3, 1, 2, 2)
    assert torch.equal(HistoryPool((1, 2, 2), 0).query(x), x)


def test_the_pools_are_seeded_from_the_global_stream_after_every_network():
    def built(seed: int) -> CycleGAN:
        torch.manual_seed(seed)
        return tiny()

    a, b, c = built(0), built(0), built(1)
    assert torch.equal(a.pool_X.rng_state, b.pool_X.rng_state) and torch.equal(a.pool_Y.rng_state, b.pool_Y.rng_state)
    assert not torch.equal(a.pool_X.rng_state, c.pool_X.rng_state)  # another train.seed, other draws
    assert not torch.equal(a.pool_X.rng_state, a.pool_Y.rng_state)  # the two pools draw independently
    torch.manual_seed(0)  # the networks alone, in the model's order: the same initial weights
    nets = [ResNetGenerator(3, 4, 1), ResNetGenerator(3, 4, 1), PatchGANDiscriminator(3, 4), PatchGANDiscriminator(3, 4)]
    for net in nets:
        init_normal(net, 0.02)
    for net, ours in zip(nets, (a.G, a.F, a.D_X, a.D_Y)):
        assert all(torch.equal(p, q) for p, q in zip(net.parameters(), ours.parameters()))


# ----------------------------------------------------------------------------- networks


@pytest.mark.parametrize("size, patches", [(64, 6), (128, 14)])
def test_generator_keeps_the_image_shape_and_patchgan_scores_patches(size, patches):
    x = torch.rand(2, 3, size, size) * 2 - 1
    G = ResNetGenerator(3, ngf=4, n_blocks=2)
    out = G(x)
    assert out.shape == x.shape and out.abs().max() <= 1
    assert PatchGANDiscriminator(3, ndf=4, n_layers=3)(x).shape == (2, 1, patches, patches)


def test_resize_up_sampling_keeps_the_generator_shapes_and_parameter_count():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    nets = {up: ResNetGenerator(3, ngf=4, n_blocks=1, upsampling=up) for up in ("transpose", "resize")}
    for net in nets.values():
        out = net(x)
        assert out.shape == x.shape and out.abs().max() <= 1
    transposed, resized = ([tuple(p.shape) for p in net.parameters()] for net in nets.values())
    assert sum(map(math.prod, transposed)) == sum(map(math.prod, resized))  # only the uk layers differ
    swap = lambda shape: (shape[1], shape[0], *shape[2:]) if len(shape) == 4 else shape  # noqa: E731  (in, out) order
    assert [swap(s) if s != r else s for s, r in zip(transposed, resized)] == resized
    model = CycleGAN(CycleGANConfig(ngf=4, n_blocks=1, ndf=4, n_layers=2, upsampling="resize"), (3, 16, 16))
    terms = model.loss({"x": torch.rand(2, 3, 16, 16), "x_b": torch.rand(2, 3, 16, 16)}, "generator")
    assert torch.isfinite(terms["loss"])
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(nn.Upsample) == 4 and nn.ConvTranspose2d not in kinds  # two uk layers in each of G and F


@pytest.mark.parametrize("upsampling", ["transpose", "resize"])
def test_only_resize_up_sampling_maps_a_constant_to_a_constant(upsampling):
    # Odena et al. 2016: a stride-2 transposed 3×3 kernel puts 1 tap on even and 2 on odd output rows (and
    # columns), so even with equal weights a constant input comes out as a 2×2-periodic checkerboard of
    # 1, 2 and 4 taps; nearest-neighbour ×2 then a 3×3 convolution gives every output the same 9 taps.
    from latentlab.nn_image import up_block

    conv = nn.Sequential(*up_block(4, 2, upsampling)[:-2])  # uk without its instance norm and ReLU
    for p in conv.parameters():
        nn.init.ones_(p)
    with torch.no_grad():
        out = conv(torch.ones(1, 4, 8, 8))[0]  # (2, 16, 16)
    assert out.shape == (2, 16, 16)
    taps = torch.tensor([1.0, 2.0] * 8)  # per output row or column of the transposed conv: 1 even, 2 odd
    expected = 4 * torch.outer(taps, taps) if upsampling == "transpose" else torch.full((16, 16), 36.0)
    inner = (slice(1, -1), slice(1, -1))  # the borders differ: a transposed conv's last row has one tap less
    for channel in out:
        assert torch.equal(channel[inner], expected[inner]), upsampling
    assert (out[:, 1:-1, 1:-1].unique().numel() == 1) == (upsampling == "resize")


def test_upsampling_accepts_only_transpose_or_resize():
    build({"model": {"name": "cyclegan", "upsampling": "resize"}, "data": {"name": "apple2orange", "binarize": "none"},
           "eval": {"protocol": "translation"}})
    with pytest.raises(UserError) as error:
        build({"model": {"name": "cyclegan", "upsampling": "bilinear"}})
    assert str(error.value) == 'model.upsampling = "bilinear" is not accepted: one of "transpose", "resize"'


def test_patchgan_receptive_field_is_70_for_three_layers():
    D = PatchGANDiscriminator(3, ndf=2, n_layers=3)
    assert receptive_field(D) == 70  # Isola et al. 2017: the 70×70 PatchGAN
    assert receptive_field(PatchGANDiscriminator(3, ndf=2, n_layers=1)) == 16  # their 16×16 PatchGAN
    # measured: the input pixels one output depends on span exactly 70×70 (without the instance norm,
    # whose statistics over the whole image would make every output depend on every pixel)
    for i, m in enumerate(D.net):
        if isinstance(m, nn.InstanceNorm2d):
            D.net[i] = nn.Identity()
    x = torch.rand(1, 3, 128, 128, requires_grad=True)
    D(x)[0, 0, 7, 7].backward()
    rows, cols = torch.nonzero(x.grad.abs().sum((0, 1))).unbind(1)
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (70, 70)


def test_weights_start_normal_with_std_0_02():
    model = CycleGAN(CycleGANConfig(ngf=8, n_blocks=1, ndf=8), (3, 32, 32))
    w = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("loss", ["least_squares", "minimax", "nonsaturating", "wgan_gp"])
def test_each_phase_trains_its_own_parameters_and_no_others(loss):
    model = build_model(build({"model": {"name": "cyclegan", "loss": loss, "ngf": 4, "n_blocks": 1, "ndf": 4}}).model,
                        (3, 32, 32))
    groups = model.parameter_groups()
    owned = {id(p) for ps in groups.values() for p in ps}
    assert owned == {id(p) for p in model.parameters()}  # every parameter belongs to a phase
    for step in range(2):
        for phase in model.phases:
            model.zero_grad(set_to_none=True)
            terms = model.loss(batch(seed=step), phase)
            assert all(torch.isfinite(v) for v in terms.values()), terms
            terms["loss"].backward()
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in groups[phase])
            zero = {id(p) for p in groups[phase] if p.grad.abs().sum() == 0}
            # the critic's output bias cancels in E f(G(x)) - E f(y) and in the penalty: its gradient is 0
            cancels = {id(model.D_X.net[-1].bias), id(model.D_Y.net[-1].bias)}
            assert zero == (cancels if loss == "wgan_gp" and phase == "discriminator" else set())
            for other, ps in groups.items():
                if other != phase:
                    assert all(p.grad is None for p in ps), f"{phase} leaked gradients into {other}"
            with torch.no_grad():
                for p in groups[phase]:
                    p -= 1e-3 * p.grad


def test_translate_maps_unit_pixels_to_unit_pixels_and_sample_needs_images():
    model = tiny()
    x = batch()["x"]
    out = model.translate(x=x)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    assert torch.equal(model.sample(1, x_b=x), model.translate(x_b=x[:1]))
    with pytest.raises(UserError, match="translates"):
        model.sample(4)
    with pytest.raises(UserError, match="x_b"):
        model.loss({"x": x}, "generator")


def test_run_figures_show_translations_through_both_cycles(tmp_path):
    from latentlab.evaluation.figures import draw_all
    from latentlab.models.base import Translator

    model = tiny().eval()
    assert isinstance(model, Translator)
    from latentlab.data.datasets import ImageData
    from latentlab.data.handoff import Data

    test_x, test_y = torch.rand(8, 3, 32, 32), torch.tensor([0, 1] * 4)
    config = build({"model": {"name": "cyclegan"}, "data": {"binarize": "none"}, "eval": {"protocol": "none"}})
    paths = draw_all(model, Data.of(ImageData(test_x, test_y, test_x, test_y, name="t"), config), tmp_path)
    assert [p.name for p in paths] == ["translations.png"] and paths[0].stat().st_size > 0
