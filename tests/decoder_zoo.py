"""Untrained latent-decoder models of every kind the report's explorer evaluates, and fake run
directories holding their explorer.json: for the export's unit tests and the browser tests."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from latentlab.evaluation.explorer import write_explorer
from latentlab.registry import build_config, build_model

# name -> (model table, x shape): MLP and conv decoders (with a Crop), Bernoulli and Gaussian means,
# conditional decoders, P-PCA's linear map, a table, RGB images.
ZOO = {
    "vae_mlp_z2": ({"name": "vae", "z_dim": 2}, (1, 28, 28)),
    "vae_conv_crop": ({"name": "vae", "z_dim": 3, "net": "conv", "likelihood": "gaussian"}, (1, 30, 30)),
    "vae_conv_rgb": ({"name": "vae", "z_dim": 4, "net": "conv"}, (3, 16, 16)),
    "gmvae": ({"name": "gmvae", "z_dim": 2, "k": 5}, (1, 28, 28)),
    "ae_table": ({"name": "ae", "z_dim": 3, "likelihood": "gaussian"}, (7,)),
    "ppca": ({"name": "ppca", "z_dim": 3}, (1, 8, 8)),
    "cvae": ({"name": "cvae", "z_dim": 3, "hidden": 64}, (1, 12, 12)),
    "ssvae": ({"name": "ssvae", "z_dim": 12}, (1, 12, 12)),
}


def zoo_model(name: str):
    table, shape = ZOO[name]
    torch.manual_seed(0)
    return build_model(build_config({"model": table}).model, shape).eval(), shape


def activations_model():
    """A VAE whose decoder MLP uses every activation the page knows, with biases large enough to matter."""
    torch.manual_seed(0)
    model = build_model(build_config({"model": {"name": "vae", "z_dim": 3}}).model, (1, 6, 6)).eval()
    model.decoder.net = nn.Sequential(nn.Linear(3, 16), nn.LeakyReLU(0.3), nn.Linear(16, 16), nn.Tanh(),
                                      nn.Linear(16, 16), nn.Softplus(beta=2.0, threshold=3.0), nn.Linear(16, 16),
                                      nn.ReLU(), nn.Linear(16, 16), nn.Sigmoid(), nn.Identity(), nn.Linear(16, 16),
                                      nn.ELU(alpha=0.7), nn.Flatten(), nn.Linear(16, 36))
    return model, (1, 6, 6)


def random_data(shape: tuple[int, ...], n: int = 300, n_classes: int = 10, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g), torch.randint(0, n_classes, (n,), generator=g)


def fake_run(root: Path, name: str, model, shape) -> Path:
    """A run directory with just what the report reads: config.toml and the model's explorer.json."""
    run = root / name
    run.mkdir(parents=True)
    table, _ = ZOO.get(name, ({"name": "vae"}, shape))
    (run / "config.toml").write_text(f'description = "untrained {name}"\n\n[model]\nname = "{table["name"]}"\n[data]\n[train]\n[eval]\n')
    x, y = random_data(shape)
    write_explorer(model, x, y, run / "explorer.json")
    return run
