"""The "Explore the latent space" part of a run's page, from the run's explorer.json.

The evaluation writes explorer.json (evaluation/explorer.py); this reads it and returns what the
template shows: the controls to build (a slider per latent dimension up to MAX_DIM_SLIDERS, one
per principal direction, the interpolation between embedded test images, a label selector for
conditional decoders, the latent plane for z = 2, the "draw from this prior" button of a latent prior's
run) and the data from which the page's script
(decoder.js, explorer.js) evaluates the decoder. Dimension sliders span mean ± 3 std of the test codes, and at least
[-3, 3] (the prior's ±3σ); principal-direction sliders span ±3 of their std.
"""

from __future__ import annotations

from pathlib import Path

from latentlab.explorer_format import EXPLORER_FORMAT
from latentlab.files import read_json
from latentlab.reporting.page import fmt_bytes

MAX_DIM_SLIDERS = 10


def explorer_view(path: Path) -> dict | None:
    """None when the run has no explorer.json (a model without a latent decoder, an older run)."""
    if not path.exists() and not path.is_symlink():
        return None
    data = read_json(path, todo="re-create it with `latentlab eval`")
    if data.get("format") != EXPLORER_FORMAT:
        return {"reason": f"{path.name} has format {data.get('format')}, this version reads {EXPLORER_FORMAT}: "
                          "re-create it with `latentlab eval`"}
    if data.get("reason"):
        return {"reason": data["reason"]}
    try:
        return _view(data, path)
    except (KeyError, TypeError, IndexError, ValueError) as e:
        return {"reason": f"{path.name} does not follow the explorer format ({e!r}): re-create it with `latentlab eval`"}


def _view(data: dict, path: Path) -> dict:
    latent, classes = data["latent"], data["classes"]
    z_dim = data["z_dim"]
    dims = [{"i": i, "lo": min(m - 3 * s, -3.0), "hi": max(m + 3 * s, 3.0), "value": m}
            for i, (m, s) in enumerate(zip(latent["mean"], latent["std"]))] if z_dim <= MAX_DIM_SLIDERS else []
    for d in dims:
        d["step"] = (d["hi"] - d["lo"]) / 1000
    plane, draws = data.get("plane"), data.get("prior_draws")
    return {
        "reason": None,
        "data": data,
        "bytes": fmt_bytes(path.stat().st_size),
        "parameters": f"{data['decoder']['parameters']:,}",
        "z_dim": z_dim,
        "mean_of": f"the q(z|x) means of {latent['n']:,} test examples" if latent["source"] == "codes"
                   else "the prior mean",
        "what": "pixel probabilities" if data["decoder"]["output"] == "sigmoid" else "means",
        "conditional": data["n_classes"] > 0,
        "classes": classes,
        "plane": plane is not None,
        "plane_labelled": bool(plane and plane["y"] is not None),
        "prior_draws": None if draws is None else {"kind": draws["kind"], "n": draws["n"],
                                                    "per_label": draws.get("y") is not None},
        "dims": dims,
        "directions": [{"k": k, "std": f"{s:.3g}"} for k, s in enumerate(latent["direction_std"])],
        "examples": [{"n": n, "index": e["index"], "label": "" if e["label"] is None else classes[e["label"]],
                      "uri": "data:image/png;base64," + e["png"] if e["png"] else None}
                     for n, e in enumerate(data["examples"])],
    }
