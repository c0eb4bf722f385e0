"""The GAN model: phases, gradients per phase, weight clipping, training through the trainer."""

import copy

import pytest
import torch

from latentlab.config import presets
from latentlab.data.batcher import Batcher
from latentlab.errors import UserError
from latentlab.models.gan import GAN, GANConfig
from latentlab.registry import build_config, load_config
from latentlab.training.trainer import Trainer

LOSSES = ["minimax", "nonsaturating", "least_squares", "wgan_clip", "wgan_gp"]
SHAPES = {"mlp": (2,), "conv": (1, 12, 8)}


def tiny(loss: str, net: str, **kw) -> GAN:
    return GAN(GANConfig(loss=loss, net=net, z_dim=3, channels=4, hidden=16, layers=2, **kw), SHAPES[net])


NETS = {"mlp": ("mlp", {}), "conv": ("conv", {}), "conv+fc+bn": ("conv", {"fc": 8, "critic_norm": "batch"})}


@pytest.mark.parametrize("variant", NETS)
@pytest.mark.parametrize("loss", LOSSES)
def test_every_objective_gives_finite_losses_and_gradients_to_every_parameter(loss, variant):
    net, kw = NETS[variant]
    if loss == "wgan_gp" and kw.get("critic_norm") == "batch":
        pytest.skip("refused: see test_batch_norm_critic_sees_real_and_generated_batches_apart")
    model = tiny(loss, net, **kw)
    x = torch.rand(7, *SHAPES[net])
    for phase in dict.fromkeys(model.phases):
        model.zero_grad(set_to_none=True)
        terms = model.loss({"x": x}, phase)
        assert all(torch.isfinite(v) and v.dim() == 0 for v in terms.values()), terms
        terms["loss"].backward()
        stepped = model.parameter_groups()[phase]
        others = [p for group, ps in model.parameter_groups().items() if group != phase for p in ps]
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in stepped), phase
        assert all(p.grad is None for p in others), f"phase {phase} leaked gradients into the other network"
    assert model.sample(3).shape == (3, *SHAPES[net])


def test_phases_follow_n_critic_and_the_protocol_defaults():
    assert tiny("nonsaturating", "mlp").phases == ("critic", "generator")
    assert tiny("wgan_gp", "mlp").phases == ("critic",) * 5 + ("generator",)
    assert tiny("least_squares", "mlp", n_critic=2).phases == ("critic", "critic", "generator")
    assert set(tiny("wgan_clip", "mlp").parameter_groups()) == {"critic", "generator"}


def test_wgan_gp_logs_the_w1_estimate_and_the_penalty():
    terms = tiny("wgan_gp", "mlp").loss({"x": torch.randn(16, 2)}, "critic")
    assert set(terms) == {"loss", "w1_estimate", "gp"}
    # the critic's loss is -W1 estimate + λ·gp (λ = 10), and the penalty is finite
    assert torch.isfinite(terms["gp"])
    torch.testing.assert_close(terms["loss"], -terms["w1_estimate"] + 10.0 * terms["gp"])


def test_weight_clipping_keeps_every_critic_weight_in_range():
    model = tiny("wgan_clip", "conv", clip=0.01)
    with torch.no_grad():
        for p in model.D.parameters():
            p.mul_(100)
    assert max(p.abs().max().item() for p in model.D.parameters()) > 0.01
    cfg = build_config({"model": {"name": "gan"}, "train": {"optimizer": "rmsprop", "lr": 0.05, "iterations": 3,
                                                           "batch_size": 8}}).train
    Trainer(model, Batcher({"x": torch.rand(64, 1, 12, 8)}, 8, seed=0), cfg, quiet=True).fit()
    assert all(p.abs().max().item() <= 0.01 for p in model.D.parameters())
    assert any(p.abs().max().item() > 0.01 for p in model.G.parameters())  # the generator is not clipped


@pytest.mark.parametrize("loss", LOSSES)
def test_a_few_trainer_steps_stay_finite(loss):
    model = tiny(loss, "mlp")
    cfg = build_config({"model": {"name": "gan"}, "train": {"iterations": 3, "batch_size": 16, "lr": 2e-4}}).train
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Trainer(model, Batcher({"x": torch.randn(128, 2)}, 16, seed=0), cfg, quiet=True).fit()
    after = model.state_dict()
    assert all(torch.isfinite(v).all() for v in after.values())
    for net in ("G.", "D."):  # both networks moved
        assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith(net)), net


def test_batch_norm_critic_sees_real_and_generated_batches_apart():
    model = tiny("least_squares", "conv", fc=8, critic_norm="batch")
    x = torch.rand(16, *SHAPES["conv"])
    alone = copy.deepcopy(model.D)(x).mean()  # batch statistics of x alone (train mode)
    assert torch.allclose(model.loss({"x": x}, "critic")["d_real"], alone)
    with pytest.raises(UserError, match="per example"):
        tiny("wgan_gp", "conv", critic_norm="batch")


def test_the_plain_conv_nets_keep_their_parameter_names():
    # Guards checkpoints of earlier runs (fc = 0, no batch norm): the modules keep their positions.
    keys = set(tiny("nonsaturating", "conv").state_dict())
    assert len(keys) == 22 and {"D.net.0.weight", "D.net.2.weight", "D.net.5.weight", "G.fc.0.weight", "G.fc.2.running_mean",
            "G.deconv.0.weight", "G.deconv.3.weight"} <= keys


def test_conv_nets_refuse_2d_data():
    with pytest.raises(UserError, match="model.net"):
        GAN(GANConfig(net="conv"), (2,))
    with pytest.raises(UserError, match="model.n_critic = -1 is not accepted"):  # the field's range, before any model
        build_config({"model": {"name": "gan", "net": "mlp", "n_critic": -1}})


@pytest.mark.parametrize("preset", ["gan_mnist", "wgan_clip_mnist", "wgan_gp_mnist", "gan_8gaussians",
                                    "wgan_gp_8gaussians"])
def test_presets_follow_the_protocol(preset):
    assert preset in presets()
    config, _ = load_config(preset)
    assert config.model.name == "gan"
    if config.model.loss == "wgan_clip":  # docs/protocols.md, section D: RMSprop 5e-5, clip 0.01, 5 critic steps
        assert (config.train.optimizer, config.train.lr, config.model.clip) == ("rmsprop", 5e-5, 0.01)
    if config.model.loss == "wgan_gp":  # Adam 2e-4, β1 0.5, λ = 10, 5 critic steps
        assert (config.train.optimizer, config.train.lr, config.train.betas[0], config.model.gp_lambda) == \
            ("adam", 2e-4, 0.5, 10.0)
    assert GAN(config.model, (2,) if config.model.net == "mlp" else (1, 28, 28)).n_critic == \
        (5 if config.model.loss.startswith("wgan") else 1)


def test_phase_lr_gives_each_phase_its_own_learning_rate():
    model = tiny("wgan_gp", "mlp")
    cfg = build_config({"model": {"name": "gan"}, "train": {"lr": 2e-4, "phase_lr": ["generator=4e-5"]}}).train
    trainer = Trainer(model, Batcher({"x": torch.randn(32, 2)}, 8, seed=0), cfg, quiet=True)
    assert trainer.optimizers["critic"].param_groups[0]["lr"] == 2e-4
    assert trainer.optimizers["generator"].param_groups[0]["lr"] == 4e-5
    cfg = build_config({"model": {"name": "gan"}, "train": {"phase_lr": ["gen=1e-4"]}}).train
    with pytest.raises(UserError, match="phases: critic, generator"):  # a phase only the model knows
        Trainer(model, Batcher({"x": torch.randn(32, 2)}, 8, seed=0), cfg, quiet=True)
    with pytest.raises(UserError, match='train.phase_lr = \\["generator:1e-4"\\] is not accepted: .*"phase=lr"'):
        build_config({"model": {"name": "gan"}, "train": {"phase_lr": ["generator:1e-4"]}})


def test_run_figures_include_a_sample_grid_of_an_image_gan(tmp_path):
    from latentlab.evaluation.figures import draw_all

    model = tiny("nonsaturating", "conv").eval()
    from latentlab.data.datasets import ImageData
    from latentlab.data.handoff import Data

    x, y = torch.rand(40, *SHAPES["conv"]), torch.arange(40) % 10
    config = build_config({"model": {"name": "gan"}, "data": {"binarize": "none"}, "eval": {"protocol": "none"}})
    paths = draw_all(model, Data.of(ImageData(x, y, x, y, name="t"), config), tmp_path)
    assert tmp_path / "samples.png" in paths and (tmp_path / "samples.png").stat().st_size > 0
