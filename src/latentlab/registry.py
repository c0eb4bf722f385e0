"""Model names -> (model class, config class). Explicit: no import-by-string."""

from __future__ import annotations

from latentlab.errors import UserError
from latentlab.models.ae import AE, AEConfig
from latentlab.models.base import GenerativeModel
from latentlab.models.cvae import CVAE, CVAEConfig
from latentlab.models.cyclegan import CycleGAN, CycleGANConfig
from latentlab.models.gan import GAN, GANConfig
from latentlab.models.gmvae import GMVAE, GMVAEConfig
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
}


def model_config_class(name: str) -> type:
    if name not in MODELS:
        raise UserError(f"unknown model.name '{name}'; known models: {', '.join(MODELS)}")
    return MODELS[name][1]


def build_model(config, x_shape: tuple[int, ...]) -> GenerativeModel:
    """The model named by `config.name`, for data of shape x_shape (without the batch dim)."""
    return MODELS[config.name][0](config, x_shape)
