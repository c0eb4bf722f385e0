"""A latent-decoder model's map z (+ y) -> E[x|z] as a list of plain layers, for a page to evaluate.

    E[x|z] = out(f_L(... f_1([z, one_hot(y)]))),   out = sigmoid (Bernoulli decoder) or identity (Gaussian mean)

Each layer is a dict: {"type": "linear", "in", "out", "W" (out × in), "b"}, the activations "elu"
(alpha), "relu", "leaky_relu" (slope), "tanh", "sigmoid", "softplus" (beta, threshold), "identity",
"flatten"; and for conv decoders "unflatten" (shape), "conv_transpose2d" ("W" in × out × kh × kw, "b",
stride, padding, output_padding) and "crop" (height, width). Weights are base64 little-endian float32.
The input is concat(z, one_hot(y)), z first (`nn.py:_with_y`). Activations are flat C·H·W vectors in
PyTorch's row-major order, so "flatten" changes nothing.

`decoder_layers` refuses (raises `NotPortable` with the reason a page shows) a decoder with a layer
it does not know, or more than `MAX_PARAMETERS` parameters; `run_layers` evaluates the list in
NumPy float64, the reference the page's script follows and the check that the export is faithful.
"""

from __future__ import annotations

import base64

import numpy as np
import torch
from torch import Tensor, nn

from latentlab.nn import ConvDecoder, Crop, MLPDecoder

MAX_PARAMETERS = 2_000_000  # float32 weights as base64: 2 M parameters are 10.7 MB of page


class NotPortable(Exception):
    """The decoder cannot be evaluated in the page; the message says why (one line for the report)."""


def encode_floats(t: Tensor | np.ndarray) -> str:
    """A tensor as base64 of its little-endian float32 values, row-major."""
    a = t.detach().cpu().numpy() if isinstance(t, Tensor) else np.asarray(t)
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def decode_floats(text: str, shape: tuple[int, ...] | list[int]) -> np.ndarray:
    """The inverse of `encode_floats`, as float64 (what the page computes in)."""
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64).reshape(shape)


def decoder_layers(model: nn.Module) -> tuple[list[dict], str]:
    """(layers, output map "sigmoid" or "identity") of a model's z -> E[x|z]; raises NotPortable."""
    from latentlab.models.ppca import PPCA

    if isinstance(model, PPCA):  # E[x|z] = W z + μ (Tipping & Bishop 1999, eq. 2)
        layers = [_linear(model.W, model.mu)]
        output = "identity"
    else:
        decoder, observation = getattr(model, "decoder", None), getattr(model, "observation", None)
        if observation is None or not isinstance(decoder, nn.Module):
            raise NotPortable(f"{type(model).__name__} has no decoder network with an observation model "
                              "the page knows")
        if isinstance(decoder, MLPDecoder):
            layers = _layers(decoder.net)
        elif isinstance(decoder, ConvDecoder):
            layers = [*_layers(decoder.fc), {"type": "unflatten", "shape": list(decoder.grid)},
                      *_layers(decoder.deconv)]
        else:
            raise NotPortable(f"{type(decoder).__name__} decoders are not evaluated in the page")
        output = {"bernoulli": "sigmoid", "gaussian": "identity"}[observation.likelihood]
    n = count_parameters(layers)
    if n > MAX_PARAMETERS:
        raise NotPortable(f"the decoder has {n / 1e6:.1f} M parameters, more than the "
                          f"{MAX_PARAMETERS / 1e6:.0f} M a page embeds")
    return layers, output


def count_parameters(layers: list[dict]) -> int:
    return sum(_size(layer) for layer in layers)


def _size(layer: dict) -> int:
    if layer["type"] == "linear":
        return layer["in"] * layer["out"] + layer["out"]
    if layer["type"] == "conv_transpose2d":
        return layer["in"] * layer["out"] * layer["kernel"][0] * layer["kernel"][1] + layer["out"]
    return 0


def _linear(W: Tensor, b: Tensor) -> dict:
    return {"type": "linear", "in": W.shape[1], "out": W.shape[0], "W": encode_floats(W), "b": encode_floats(b)}


ACTIVATIONS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Identity: "identity",
               nn.Flatten: "flatten"}


def _layers(module: nn.Module) -> list[dict]:
    """The layers of a module (Sequentials flattened), in order."""
    if isinstance(module, nn.Sequential):
        return [layer for child in module for layer in _layers(child)]
    if type(module) in ACTIVATIONS:
        if isinstance(module, nn.Flatten) and (module.start_dim, module.end_dim) != (1, -1):
            raise NotPortable("Flatten layers over other dims than (1, -1) are not evaluated in the page")
        return [{"type": ACTIVATIONS[type(module)]}]
    if isinstance(module, nn.Linear):
        return [_linear(module.weight, module.bias if module.bias is not None else torch.zeros(module.out_features))]
    if isinstance(module, nn.ELU):
        return [{"type": "elu", "alpha": module.alpha}]
    if isinstance(module, nn.LeakyReLU):
        return [{"type": "leaky_relu", "slope": module.negative_slope}]
    if isinstance(module, nn.Softplus):
        return [{"type": "softplus", "beta": module.beta, "threshold": module.threshold}]
    if isinstance(module, Crop):
        return [{"type": "crop", "height": module.height, "width": module.width}]
    if isinstance(module, nn.ConvTranspose2d) and module.groups == 1 and module.dilation == (1, 1) \
            and module.padding_mode == "zeros" and isinstance(module.padding, tuple):
        bias = module.bias if module.bias is not None else torch.zeros(module.out_channels)
        return [{"type": "conv_transpose2d", "in": module.in_channels, "out": module.out_channels,
                 "kernel": list(module.kernel_size), "stride": list(module.stride), "padding": list(module.padding),
                 "output_padding": list(module.output_padding), "W": encode_floats(module.weight),
                 "b": encode_floats(bias)}]
    raise NotPortable(f"{type(module).__name__} layers are not evaluated in the page")


# ----------------------------------------------------------------------------- the reference evaluation


def run_layers(layers: list[dict], output: str, h: np.ndarray) -> np.ndarray:
    """The decoder of `layers` on inputs h (N, Z + Y), in float64: (N, D) flat means E[x|z]."""
    shape: tuple[int, ...] = (h.shape[1],)  # the shape of one activation, without the batch dim
    for layer in layers:
        kind = layer["type"]
        if kind == "linear":
            W = decode_floats(layer["W"], (layer["out"], layer["in"]))
            h, shape = h @ W.T + decode_floats(layer["b"], (layer["out"],)), (layer["out"],)
        elif kind == "unflatten":
            shape = tuple(layer["shape"])
        elif kind == "conv_transpose2d":
            h, shape = _conv_transpose2d(h.reshape(-1, *shape), layer)
        elif kind == "crop":
            c, height, width = shape[0], layer["height"], layer["width"]
            h, shape = h.reshape(-1, *shape)[:, :, :height, :width].reshape(len(h), -1), (c, height, width)
        elif kind == "flatten":
            shape = (h.shape[1],)
        else:
            h = ELEMENTWISE[kind](h, layer)
    return 1 / (1 + np.exp(-h)) if output == "sigmoid" else h


def _conv_transpose2d(x: np.ndarray, layer: dict) -> tuple[np.ndarray, tuple[int, int, int]]:
    """out[o, s·i − p + k] += x[c, i] W[c, o, k] in each spatial dim, plus b[o]; x (N, C, H, W)."""
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


ELEMENTWISE = {
    "elu": lambda h, l: np.where(h > 0, h, l["alpha"] * np.expm1(np.minimum(h, 0))),
    "relu": lambda h, l: np.maximum(h, 0),
    "leaky_relu": lambda h, l: np.where(h > 0, h, l["slope"] * h),
    "tanh": lambda h, l: np.tanh(h),
    "sigmoid": lambda h, l: 1 / (1 + np.exp(-h)),
    "softplus": lambda h, l: np.where(l["beta"] * h > l["threshold"], h,
                                      np.log1p(np.exp(np.minimum(l["beta"] * h, l["threshold"]))) / l["beta"]),
    "identity": lambda h, l: h,
}
