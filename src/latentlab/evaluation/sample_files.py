"""`latentlab sample`: n draws of a trained model written as a file that fits its kind of data.

images: a PNG grid of decoder means beside draws x ~ p(x|z) (or the model's samples);
points: a scatter of the samples beside as many real draws of the 2-D distribution;
table:  a CSV of draws x ~ p(x) in the data's original units, headed by its column names.
Reads no dataset: what it needs of the data (kind, a table's statistics and columns) is in run.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from latentlab.files import atomic_write
from latentlab.models.base import Decoder, GenerativeModel, LatentPrior


def sample_run(run, *, n: int, out=None, seed: int = 0, device=None) -> Path:
    """Draw n samples from the model of `run` (a Run) into `out` (default: the run's samples folder)."""
    from latentlab.data.handoff import kind_of

    data = {"kind": kind_of(run.config.data.name, run.x_shape), **run.meta}  # runs before "kind" was kept
    return write_samples(run.load_model(device), data, Path(out) if out else run.samples_dir, n=n, seed=seed,
                         data_name=run.config.data.name, label=run.config.model.name)


@torch.no_grad()
def write_samples(model: GenerativeModel, data: dict, out: Path, *, n: int, seed: int, data_name: str,
                  label: str) -> Path:
    """Draw n samples (a torch.Generator seeded `seed`) and write them into `out`; `data` is run.json's
    description of the data ("kind", and for tables "standardize", "columns")."""
    from latentlab.evaluation.figures import likelihood_of
    from latentlab.viz.figures import sample_grid

    g = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    if isinstance(model, Decoder) and isinstance(model, LatentPrior):
        z = model.sample_z(n, generator=g)
        mean, draws = model.decode(z), model.sample_x_given_z(z, generator=g)
    else:
        mean, draws = model.sample(n, generator=g), None
    if data["kind"] == "points":  # a scatter beside as many real draws
        from latentlab.data import toy2d
        from latentlab.viz.fields import samples_vs_data

        real = toy2d.sample(data_name, n, torch.Generator().manual_seed(seed))
        return samples_vs_data(real, {label: mean.cpu()}, out / f"samples-seed{seed}.png")
    if data["kind"] == "table":  # the draws x ~ p(x), in the original units
        return write_table(draws if draws is not None else mean, data, out / f"samples-seed{seed}.csv")
    return sample_grid(mean.clamp(0, 1).cpu(), None if draws is None else draws.clamp(0, 1).cpu(),
                       out / f"samples-seed{seed}.png", likelihood=likelihood_of(model))


def write_table(x: Tensor, data: dict, path: Path) -> Path:
    """Rows x (N, D) as CSV, un-standardised with data["standardize"] where given (raw = x · std + mean),
    headed by data["columns"] (else x0, x1, ...)."""
    x = x.detach().cpu().double().numpy()
    stats = data.get("standardize")
    if stats:
        x = x * np.asarray(stats["std"]) + np.asarray(stats["mean"])
    header = ",".join(_csv_field(c) for c in data.get("columns") or [f"x{i}" for i in range(x.shape[1])])
    return atomic_write(path, header + "\n" + "\n".join(",".join(f"{v:.6g}" for v in row) for row in x) + "\n")


def _csv_field(name: str) -> str:
    """A column name as one CSV field: quoted where it holds a comma, a quote or a line break."""
    return '"' + name.replace('"', '""') + '"' if any(c in name for c in ',"\n\r') else name
