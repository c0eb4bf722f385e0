"""A portable decoder's map z (+ y) -> E[x|z] as a list of plain layers for a page to evaluate, and
their NumPy reference.

    E[x|z] = out(f_L(... f_1([z, one_hot(y)]))),   out = sigmoid (Bernoulli decoder) or identity (Gaussian mean)

The model gives its layers as PyTorch modules (models/base.py: PortableDecoder; nn.Sequential and
networks that are themselves portable are opened up); each becomes a dict {"type": kind, ...}.
`KINDS` is the one table of layer kinds: for each, the modules exported as it, the fields it writes
beside "type", its parameter count and its evaluation in NumPy float64. reporting/decoder.js
`compile` is the same table in JavaScript: a new kind is one entry here and one case there.
Weights are base64 little-endian float32 ("W" of a linear layer is out × in, of a transposed
convolution in × out × kh × kw). The input is concat(z, one_hot(y)), z first (`nn.py:_with_y`).
Activations are flat C·H·W vectors in PyTorch's row-major order, so "flatten" changes nothing.

`decoder_layers` refuses (raises `NotPortable` with the reason a page shows) a model that does not
give its layers, a layer it does not know, or more than `MAX_PARAMETERS` parameters; `run_layers`
evaluates the list in NumPy float64, the reference the page's script follows and the check that
the export is faithful.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from latentlab.models.base import ConditionalDecoder, Decoder, PortableDecoder
from latentlab.nn import Crop

MAX_PARAMETERS = 2_000_000  # float32 weights as base64: 2 M parameters are 10.7 MB of page
MEANS = {"bernoulli": "sigmoid", "gaussian": "identity"}  # likelihood -> the map from the layers' output to E[x|z]


class NotPortable(Exception):
    """The decoder cannot be evaluated in the page; the message says why (one line for the report)."""


def encode_floats(t: Tensor | np.ndarray) -> str:
    """A tensor as base64 of its little-endian float32 values, row-major."""
    a = t.detach().cpu().numpy() if isinstance(t, Tensor) else np.asarray(t)
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def decode_floats(text: str, shape: tuple[int, ...] | list[int]) -> np.ndarray:
    """The inverse of `encode_floats`, as float64 (what the page computes in)."""
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64).reshape(shape)


def decoder_layers(model) -> tuple[list[dict], str]:
    """(layers, output map "sigmoid" or "identity") of a model's z -> E[x|z]; raises NotPortable."""
    if not (isinstance(model, PortableDecoder) and isinstance(model, (Decoder, ConditionalDecoder))):
        raise NotPortable(f"{type(model).__name__} does not give its decoder as layers the page knows")
    if model.likelihood not in MEANS:
        raise NotPortable(f"the mean of a {model.likelihood} decoder is not evaluated in the page")
    layers = export(model.decoder_layers())
    n = count_parameters(layers)
    if n > MAX_PARAMETERS:
        raise NotPortable(f"the decoder has {n / 1e6:.1f} M parameters, more than the "
                          f"{MAX_PARAMETERS / 1e6:.0f} M a page embeds")
    return layers, MEANS[model.likelihood]


def export(modules: list[nn.Module]) -> list[dict]:
    """The layers of `modules` in order, Sequentials and portable networks opened up."""
    layers = []
    for module in modules:
        if isinstance(module, nn.Sequential):
            layers += export(list(module))
        elif isinstance(module, PortableDecoder):
            layers += export(module.decoder_layers())
        else:
            name = next((KIND_OF[cls] for cls in type(module).__mro__ if cls in KIND_OF), None)
            if name is None:
                raise NotPortable(f"{type(module).__name__} layers are not evaluated in the page")
            layers.append({"type": name, **KINDS[name].export(module)})
    return layers


def count_parameters(layers: list[dict]) -> int:
    return sum(KINDS[layer["type"]].size(layer) for layer in layers)


def run_layers(layers: list[dict], output: str, h: np.ndarray) -> np.ndarray:
    """The decoder of `layers` on inputs h (N, Z + Y), in float64: (N, D) flat means E[x|z]."""
    shape: tuple[int, ...] = (h.shape[1],)  # the shape of one activation, without the batch dim
    for layer in layers:
        h, shape = KINDS[layer["type"]].run(h, shape, layer)
    return _sigmoid(h) if output == "sigmoid" else h


# ----------------------------------------------------------------------------- the layer kinds

Run = Callable[[np.ndarray, tuple[int, ...], dict], tuple[np.ndarray, tuple[int, ...]]]


@dataclass(frozen=True)
class Kind:
    """One layer kind: the modules exported as it, and what the page needs of it."""

    modules: tuple[type[nn.Module], ...]
    export: Callable[[nn.Module], dict]  # a module's fields beside "type"; NotPortable for settings the page lacks
    run: Run  # (h (N, D) flat, the shape of one activation, the layer) -> the same after the layer, in float64
    size: Callable[[dict], int] = lambda layer: 0  # parameters


def _no_fields(module: nn.Module) -> dict:
    return {}


def _elementwise(f: Callable[[np.ndarray, dict], np.ndarray]) -> Run:
    return lambda h, shape, layer: (f(h, layer), shape)


def _sigmoid(h: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-h))


def _export_linear(module: nn.Linear) -> dict:
    bias = module.bias if module.bias is not None else torch.zeros(module.out_features)
    return {"in": module.in_features, "out": module.out_features, "W": encode_floats(module.weight),
            "b": encode_floats(bias)}


def _run_linear(h: np.ndarray, shape: tuple[int, ...], layer: dict) -> tuple[np.ndarray, tuple[int, ...]]:
    W = decode_floats(layer["W"], (layer["out"], layer["in"]))
    return h @ W.T + decode_floats(layer["b"], (layer["out"],)), (layer["out"],)


def _export_flatten(module: nn.Flatten) -> dict:
    if (module.start_dim, module.end_dim) != (1, -1):
        raise NotPortable("Flatten layers over other dims than (1, -1) are not evaluated in the page")
    return {}


def _export_unflatten(module: nn.Unflatten) -> dict:
    if module.dim not in (1, -1):  # a flat activation has one dim after the batch's
        raise NotPortable("Unflatten layers of other dims than 1 are not evaluated in the page")
    return {"shape": list(module.unflattened_size)}


def _export_conv_transpose2d(module: nn.ConvTranspose2d) -> dict:
    if not (module.groups == 1 and module.dilation == (1, 1) and module.padding_mode == "zeros"
            and isinstance(module.padding, tuple)):
        raise NotPortable(f"{type(module).__name__} layers are not evaluated in the page")
    bias = module.bias if module.bias is not None else torch.zeros(module.out_channels)
    return {"in": module.in_channels, "out": module.out_channels, "kernel": list(module.kernel_size),
            "stride": list(module.stride), "padding": list(module.padding),
            "output_padding": list(module.output_padding), "W": encode_floats(module.weight), "b": encode_floats(bias)}


def _run_conv_transpose2d(h: np.ndarray, shape: tuple[int, ...], layer: dict) -> tuple[np.ndarray, tuple[int, ...]]:
    """out[o, s·i − p + k] += x[c, i] W[c, o, k] in each spatial dim, plus b[o]; x (N, C, H, W)."""
    x = h.reshape(-1, *shape)
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = layer["kernel"], layer["stride"], layer["padding"], layer["output_padding"]
    n, c, height, width = x.shape
    W = decode_floats(layer["W"], (c, layer["out"], kh, kw))
    full = np.zeros((n, layer["out"], (height - 1) * sh + kh + oh, (width - 1) * sw + kw + ow))
    for i in range(kh):
        for j in range(kw):
            full[:, :, i:i + (height - 1) * sh + 1:sh, j:j + (width - 1) * sw + 1:sw] += \
                np.einsum("nchw,co->nohw", x, W[:, :, i, j])
    out_h, out_w = (height - 1) * sh - 2 * ph + kh + oh, (width - 1) * sw - 2 * pw + kw + ow
    out = full[:, :, ph:ph + out_h, pw:pw + out_w] + decode_floats(layer["b"], (layer["out"],))[:, None, None]
    return out.reshape(n, -1), (layer["out"], out_h, out_w)


def _run_crop(h: np.ndarray, shape: tuple[int, ...], layer: dict) -> tuple[np.ndarray, tuple[int, ...]]:
    c, height, width = shape[0], layer["height"], layer["width"]
    return h.reshape(-1, *shape)[:, :, :height, :width].reshape(len(h), -1), (c, height, width)


KINDS: dict[str, Kind] = {
    "linear": Kind((nn.Linear,), _export_linear, _run_linear, size=lambda l: l["in"] * l["out"] + l["out"]),
    "elu": Kind((nn.ELU,), lambda m: {"alpha": m.alpha},
                _elementwise(lambda h, l: np.where(h > 0, h, l["alpha"] * np.expm1(np.minimum(h, 0))))),
    "relu": Kind((nn.ReLU,), _no_fields, _elementwise(lambda h, l: np.maximum(h, 0))),
    "leaky_relu": Kind((nn.LeakyReLU,), lambda m: {"slope": m.negative_slope},
                       _elementwise(lambda h, l: np.where(h > 0, h, l["slope"] * h))),
    "tanh": Kind((nn.Tanh,), _no_fields, _elementwise(lambda h, l: np.tanh(h))),
    "sigmoid": Kind((nn.Sigmoid,), _no_fields, _elementwise(lambda h, l: _sigmoid(h))),
    "softplus": Kind((nn.Softplus,), lambda m: {"beta": m.beta, "threshold": m.threshold},
                     _elementwise(lambda h, l: np.where(l["beta"] * h > l["threshold"], h, np.log1p(
                         np.exp(np.minimum(l["beta"] * h, l["threshold"]))) / l["beta"]))),
    "identity": Kind((nn.Identity,), _no_fields, lambda h, shape, l: (h, shape)),
    "flatten": Kind((nn.Flatten,), _export_flatten, lambda h, shape, l: (h, (h.shape[1],))),
    "unflatten": Kind((nn.Unflatten,), _export_unflatten, lambda h, shape, l: (h, tuple(l["shape"]))),
    "conv_transpose2d": Kind((nn.ConvTranspose2d,), _export_conv_transpose2d, _run_conv_transpose2d,
                             size=lambda l: l["in"] * l["out"] * l["kernel"][0] * l["kernel"][1] + l["out"]),
    "crop": Kind((Crop,), lambda m: {"height": m.height, "width": m.width}, _run_crop),
}
KIND_OF = {cls: name for name, kind in KINDS.items() for cls in kind.modules}  # module class -> kind
