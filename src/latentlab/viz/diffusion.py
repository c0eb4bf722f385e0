"""Figures of the diffusion-on-images study: rows of measurements in, PNG files out.

Each row is a dict as studies/diffusion_measures.py returns it (fid, is, precision, recall,
s_per_1000 and the setting it was measured at). Matplotlib through `matplotlib.figure.Figure`
only; every function writes one PNG atomically and returns its path.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from latentlab.viz.grid import save_figure

_DPI = 100
_QUALITY = (("fid", "classifier-feature FID ↓", True), ("precision", "precision ↑", False),
            ("recall", "recall ↑", False))


def quality_vs_steps(rows: list[dict], path: Path) -> Path:
    """FID, precision and recall against the sampler's network calls (log scale), one line per DDIM spacing and η,
    ancestral sampling as a cross; the last panel: seconds per 1,000 images."""
    fig = Figure(figsize=(15, 3.6), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, 4)
    ddim = [r for r in rows if r["sampler"] == "ddim" and not r.get("paired")]
    ancestral = [r for r in rows if r["sampler"] == "ancestral"]
    for ax, (key, label, log) in zip(axes, (*_QUALITY, ("s_per_1000", "s per 1,000 images (one thread)", True))):
        for k, (spacing, eta) in enumerate(dict.fromkeys((r["spacing"], r["eta"]) for r in ddim)):
            line = [r for r in ddim if (r["spacing"], r["eta"]) == (spacing, eta)]
            ax.plot([r["steps"] for r in line], [r[key] for r in line], "o-", ms=4, color=f"C{k}",
                    label=f"DDIM η = {eta:g}, {spacing} (n = {line[0]['n']:,})")
        for r in ancestral:
            ax.plot([r["steps"]], [r[key]], "x", ms=9, mew=2, color="C3",
                    label=f"ancestral (n = {r['n']:,})")
        ax.set_xscale("log")
        _frame(ax, "network calls per image", label, log)
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)


def quality_vs_guidance(rows: list[dict], path: Path) -> Path:
    """The share of guided samples the classifier assigns to their label, and FID, precision and recall,
    against the guidance scale w."""
    fig = Figure(figsize=(15, 3.6), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, 4)
    ws = [r["w"] for r in rows]
    for ax, (key, label, log) in zip(axes, (("accuracy", "classified as their label, % ↑", False), *_QUALITY)):
        ax.plot(ws, [r[key] for r in rows], "o-", ms=4)
        _frame(ax, "guidance scale w", label, log)
    return save_figure(fig, path)


def quality_vs_training(rows: list[dict], path: Path, reference: dict[str, float] | None = None,
                        reference_label: str = "") -> Path:
    """FID, precision and recall of DDIM-50 samples against training steps; dotted lines: a reference model's."""
    fig = Figure(figsize=(11.5, 3.6), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, 3)
    steps = [r["step"] for r in rows]
    for ax, (key, label, log) in zip(axes, _QUALITY):
        ax.plot(steps, [r[key] for r in rows], "o-", ms=4, label=f"DDPM (n = {rows[0]['n']:,})")
        if reference and key in reference:
            ax.axhline(reference[key], color="k", ls=":", lw=1, label=reference_label)
        _frame(ax, "training step", label, log)
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)


def _frame(ax, xlabel: str, title: str, log: bool) -> None:
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
