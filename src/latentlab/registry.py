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
from latentlab.models.latent_prior import LatentPrior, LatentPriorConfig
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
    """The model named by `config.name`, for data of shape x_shape (without the batch dim)."""
    return MODELS[config.name][0](config, x_shape)
