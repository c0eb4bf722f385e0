"""Model names -> (model class, config class). Explicit: no import-by-string.

Reading a config needs the model's config class, so the config readers that know every model
live here: `load_config(preset or path, overrides)` and `build_config(raw table)`.
"""

from __future__ import annotations

from pathlib import Path

from latentlab import config as config_io
from latentlab.config import Config, ConfigError, ModelConfig
from latentlab.data.handoff import plan
from latentlab.evaluation.protocols import refusal
from latentlab.fields import show
from latentlab.models.ae import AE, AEConfig
from latentlab.models.base import GenerativeModel
from latentlab.models.cvae import CVAE, CVAEConfig
from latentlab.models.cyclegan import CycleGAN, CycleGANConfig
from latentlab.models.gan import GAN, GANConfig
from latentlab.models.gmvae import GMVAE, GMVAEConfig
from latentlab.models.latent_prior import ConditionalParent, LatentPrior, LatentPriorConfig
from latentlab.models.latent_prior_conditional import ConditionalLatentPrior
from latentlab.models.ppca import PPCA, PPCAConfig
from latentlab.models.ssvae import SSVAE, SSVAEConfig
from latentlab.models.ddpm import DDPM, DDPMConfig
from latentlab.models.ncsn import NCSN, NCSNConfig
from latentlab.models.vae import VAE, VAEConfig

MODELS: dict[str, tuple[type[GenerativeModel], type]] = {
    "ae": (AE, AEConfig),
    "ppca": (PPCA, PPCAConfig),
    "vae": (VAE, VAEConfig),
    "gmvae": (GMVAE, GMVAEConfig),
    "ssvae": (SSVAE, SSVAEConfig),
    "cvae": (CVAE, CVAEConfig),
    "ncsn": (NCSN, NCSNConfig),
    "ddpm": (DDPM, DDPMConfig),
    "gan": (GAN, GANConfig),
    "cyclegan": (CycleGAN, CycleGANConfig),
    "latent_prior": (LatentPrior, LatentPriorConfig),
}


def build_config(raw: dict) -> Config:
    """Check a raw config table (model.name picks the model's config class) and build the frozen config."""
    return checked(config_io.build(raw, {name: cfg for name, (_, cfg) in MODELS.items()}))


def checked(config: Config) -> Config:
    """`config` itself if every value is accepted, its model's rules on the kind of data hold (a model config's
    `broken_data_rules(data plan)`) and its evaluation protocol fits its data as far as the config tells
    (evaluation/protocols.py; the model is asked once it is built), else a ConfigError."""
    config = config_io.check_config(config)
    data = plan(config)
    for name, text in getattr(config.model, "broken_data_rules", lambda _: ())(data):
        raise ConfigError(f"model.{name} = {show(getattr(config.model, name))} is not accepted: {text}")
    why = refusal(None, data)
    if why is not None:
        raise ConfigError(why)
    return config


def load_config(path_or_preset: str | Path, overrides: list[str] = ()) -> tuple[Config, str]:
    """Read a TOML file or preset, apply `--set` overrides, check it all; returns it and the file's stem."""
    raw, name = config_io.read_toml(path_or_preset)
    return build_config(config_io.apply_overrides(raw, list(overrides))), name


def build_model(config: ModelConfig, x_shape: tuple[int, ...]) -> GenerativeModel:
    """The model named by `config.name`, for data of shape x_shape (without the batch dim). A latent prior gets
    its parent run's model, with the weights of the parent's newest checkpoint (a prior per label on a
    conditional parent)."""
    if config.name == "latent_prior":
        parent = parent_model(config.parent, x_shape)
        prior = ConditionalLatentPrior if isinstance(parent, ConditionalParent) else LatentPrior
        return prior(config, x_shape, parent)
    return MODELS[config.name][0](config, x_shape)


def parent_model(path: str, x_shape: tuple[int, ...]) -> GenerativeModel:
    """The model of the run directory `path` (read only: config.toml, run.json, the newest checkpoint), as
    Run.load_model builds it, on the CPU; a UserError where it cannot be read or has no encoder and decoder.
    (run/ reads the registry, so the registry reads a run's files itself.)"""
    import json
    import tomllib

    from latentlab.errors import UserError
    from latentlab.models.latent_prior import check_parent
    from latentlab.run.checkpoint import latest_checkpoint, load_checkpoint

    folder = Path(path)
    try:
        config = build_config(tomllib.loads((folder / "config.toml").read_text()))
        parent_shape = tuple(json.loads((folder / "run.json").read_text())["x_shape"])
        checkpoint = latest_checkpoint(folder / "checkpoints")
        if checkpoint is None:
            raise UserError("it has no checkpoint")
        _, state = load_checkpoint(checkpoint)
    except (OSError, ValueError, KeyError, UserError) as e:
        raise UserError(f"model.parent = {path} cannot be read ({e}): restore it, or fit the prior again") from None
    if parent_shape != tuple(x_shape):
        raise UserError(f"the data have x of shape {tuple(x_shape)}, the parent {path} was trained on {parent_shape}: "
                        "keep the parent's [data] section")
    model = trained_model(config, parent_shape, state)
    check_parent(model, path, config.model.name)
    return model


def trained_model(config: Config, x_shape: tuple[int, ...], state: dict, device=None) -> GenerativeModel:
    """The model of `config` with the weights of a checkpoint's `state` (its EMA weights where kept), in eval mode.
    The seed is set first, as training set it: building draws the initial parameters (and the random stream it
    leaves is the one training started from)."""
    import torch

    torch.manual_seed(config.train.seed)
    model = build_model(config.model, x_shape).to(device or "cpu")
    model.load_state_dict(state["model"])
    if "ema" in state:  # the averaged weights (parameters and float buffers)
        model.load_state_dict(state["ema"], strict=False)
    return model.eval()
