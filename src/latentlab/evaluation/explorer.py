"""explorer.json: what a run's report needs to let a reader move through the latent space.

For a model that decodes a latent z (VAE, GMVAE, AE, P-PCA; CVAE and SSVAE given a label y), the
page evaluates E[x|z] (or E[x|y, z]) itself, from the decoder's layers (decoder_layers.py), and
needs beside them:
- the q(z|x) means of up to MAX_ENCODED test examples (q(z|x, y) with the true label for
  conditional models), summarised by their mean and the first principal directions v_k with
  their standard deviations s_k, so that z = mean + Σ_k a_k s_k v_k; per-dimension std too;
- for z = 2, up to MAX_CODES of those means with their labels, to draw under the latent plane
  (the plane of the latent_manifold figure, MANIFOLD_RANGE²);
- N_EXAMPLES test images (spread over the labels) with their codes and thumbnails, to
  interpolate z = (1 − t) z_a + t z_b between two of them;
- the class names of a conditional decoder (and of labelled data, for the plane's colours);
- for a post-hoc latent prior's run (models/latent_prior.py), N_PRIOR_DRAWS codes z ~ p(z) of its fitted
  prior (a prior per label: z ~ p(z|y) with their labels y, taken in turn), drawn here with the run's seed: the page's "draw from this prior" button decodes one of them
  (the page is static; nothing samples the prior while it is read).
A decoder the page cannot evaluate gets {"reason": ...} instead, which the report shows.
Models without a decoder of z (GAN, DDPM, NCSN, CycleGAN) get no file at all.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from latentlab.evaluation.decoder_layers import NotPortable, count_parameters, decoder_layers, encode_floats, run_layers
from latentlab.evaluation.figures import MANIFOLD_RANGE, example_indices
from latentlab.explorer_format import EXPLORER_FORMAT
from latentlab.files import atomic_write
from latentlab.models.base import (ConditionalDecoder, ConditionalEncoder, ConditionalFittedPrior, Decoder, Encoder,
                                   FittedPrior)
from latentlab.nn import one_hot
from latentlab.viz.grid import image_grid

MAX_ENCODED, MAX_CODES, N_EXAMPLES, N_DIRECTIONS, N_PRIOR_DRAWS = 10_000, 2_000, 12, 5, 256
FAITHFUL = 1e-4  # the exported layers must reproduce the model's decoder this closely (×max(1, |E[x|z]|))


@torch.no_grad()
def write_explorer(model, test_x: Tensor, test_y: Tensor | None, path: Path, *, classes: tuple[str, ...] = (),
                   seed: int = 0) -> Path | None:
    """Write explorer.json for a latent-decoder model (atomically) and return its path; None for other models."""
    if not isinstance(model, (Decoder, ConditionalDecoder)):
        return None
    data = explorer_data(model, test_x, test_y, classes=classes, seed=seed)
    return atomic_write(path, json.dumps(data, separators=(",", ":")))


@torch.no_grad()
def explorer_data(model, test_x: Tensor, test_y: Tensor | None, *, classes: tuple[str, ...] = (),
                  seed: int = 0) -> dict:
    """The contents of explorer.json (see the module docstring)."""
    head = {"format": EXPLORER_FORMAT, "model": type(model).__name__}
    n_classes = model.n_classes if isinstance(model, ConditionalDecoder) else 0
    try:
        layers, output = decoder_layers(model)
        z_dim = layers[0]["in"] - n_classes
        check_faithful(model, layers, output, z_dim, n_classes, test_x.device)
    except NotPortable as e:
        return {**head, "reason": str(e)}
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(test_x), generator=g)[:MAX_ENCODED].to(test_x.device)
    y = None if test_y is None else test_y[idx]
    codes = _encode(model, test_x[idx], y)  # (N, Z) or None
    x_shape = list(test_x.shape[1:])
    n_names = n_classes or (int(test_y.max()) + 1 if test_y is not None and len(test_y) else 0)
    data = {
        **head,
        "decoder": {"layers": layers, "output": output, "parameters": count_parameters(layers)},
        "z_dim": z_dim, "n_classes": n_classes, "x_shape": x_shape,
        "display": "image" if len(x_shape) == 3 and x_shape[0] in (1, 3) else "bars",
        "classes": [classes[i] if i < len(classes) else str(i) for i in range(n_names)],
        "latent": _summary(codes, z_dim),
        "examples": _examples(model, test_x, test_y, codes is not None),
    }
    if z_dim == 2 and codes is not None:
        shown = codes[:MAX_CODES]
        data["plane"] = {"range": list(MANIFOLD_RANGE), "n": len(shown), "z": encode_floats(shown),
                         "y": None if y is None else y[:MAX_CODES].tolist()}
    draws = _prior_draws(model, seed)
    if draws is not None:
        data["prior_draws"] = draws
    return data


def _prior_draws(model, seed: int) -> dict | None:
    """N_PRIOR_DRAWS codes z ~ p(z) of a latent prior run's fitted prior, (n, Z) as float32 base64 (a prior per
    label: z ~ p(z|y) with the labels y = 0, 1, ..., Y-1, 0, 1, ... in "y"); None for any other model."""
    if not isinstance(model, (FittedPrior, ConditionalFittedPrior)):
        return None
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    if isinstance(model, FittedPrior):
        z = model.sample_z(N_PRIOR_DRAWS, g)  # (n, Z)
        return {"kind": model.config.kind, "n": len(z), "z": encode_floats(z)}
    y = torch.arange(N_PRIOR_DRAWS, device=device) % model.n_classes
    z = model.sample_z_given_y(y, g)  # (n, Z)
    return {"kind": model.config.kind, "n": len(z), "z": encode_floats(z), "y": y.tolist()}


def check_faithful(model, layers: list[dict], output: str, z_dim: int, n_classes: int, device) -> None:
    """NotPortable unless run_layers reproduces model.decode (decode_given_y) at a few seeded z."""
    z = 2 * torch.randn(8, z_dim, generator=torch.Generator().manual_seed(0)).to(device)
    if n_classes:
        y = torch.arange(8, device=device) % n_classes
        expected = model.decode_given_y(z, y)
        h = torch.cat([z, one_hot(y, n_classes, z)], -1)
    else:
        expected, h = model.decode(z), z
    expected = expected.flatten(1).double().cpu().numpy()
    if not np.isfinite(expected).all():
        raise NotPortable("the decoder's outputs are not finite (NaN or inf)")
    got = run_layers(layers, output, h.double().cpu().numpy())
    diff = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
    if not diff <= FAITHFUL * max(1.0, float(np.abs(expected).max())):
        raise NotPortable(f"the exported layers do not reproduce {type(model).__name__}'s decoder "
                          f"(largest difference {diff:.2g}), so the page does not evaluate it")


def _encode(model, x: Tensor, y: Tensor | None) -> Tensor | None:
    """q(z|x) means (q(z|x, y) with the true labels for conditional models), (N, Z); None without an encoder."""
    if isinstance(model, ConditionalEncoder):
        if y is None:
            return None
        return torch.cat([model.encode_given_y(xb, yb)[0] for xb, yb in zip(x.split(1000), y.split(1000))])
    if isinstance(model, Encoder):
        return torch.cat([model.encode(xb)[0] for xb in x.split(1000)])
    return None


def _summary(codes: Tensor | None, z_dim: int) -> dict:
    """Mean, per-dimension std and the first principal directions (rows, unit length) with their std."""
    k = min(N_DIRECTIONS, z_dim)
    if codes is None or len(codes) < 2:  # no codes: the prior N(0, I) and the axes
        return {"source": "prior", "n": 0, "mean": [0.0] * z_dim, "std": [1.0] * z_dim,
                "directions": torch.eye(z_dim)[:k].tolist(), "direction_std": [1.0] * k}
    z = codes.double().cpu()
    centred = z - z.mean(0)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)  # centred = U diag(s) Vᵀ, v (Z, Z) rows
    v = v[:k] * v[:k].gather(1, v[:k].abs().argmax(1, keepdim=True)).sign()  # largest entry positive
    return {"source": "codes", "n": len(z), "mean": z.mean(0).tolist(), "std": z.std(0).tolist(),
            "directions": v.tolist(), "direction_std": (s[:k] / (len(z) - 1) ** 0.5).tolist()}


def _examples(model, test_x: Tensor, test_y: Tensor | None, encoded: bool) -> list[dict]:
    """N_EXAMPLES test examples: index, label, code and (images) a PNG thumbnail as base64."""
    if not encoded:
        return []
    idx = example_indices(len(test_x), test_y, N_EXAMPLES).to(test_x.device)
    y = None if test_y is None else test_y[idx]
    z = _encode(model, test_x[idx], y)
    images = test_x.dim() == 4 and test_x.shape[1] in (1, 3)
    return [{"index": int(i), "label": None if y is None else int(y[n]), "z": z[n].tolist(),
             "png": _png(test_x[i]) if images else None} for n, i in enumerate(idx.tolist())]


def _png(x: Tensor) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image_grid(x[None], nrow=1, pad=0)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
