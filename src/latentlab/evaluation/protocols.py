"""Evaluation protocols: which images, how binarized, how many repeats — recorded beside the numbers.

cs236: CS236 homework 2 (PROTOCOLS.md A). NELBO, KL, Rec over `subset_repeats` passes of the
       fixed 100-image test subset; -IWAE-k over `iwae_repeats` passes; then (full_test) every
       bound once on the whole 10,000-image test set, statically binarized with a recorded seed.
test:  the whole test set only, as for cs236's second part.
"""

from __future__ import annotations

import torch
from torch import Tensor

from latentlab.config import Config
from latentlab.data.batcher import binarize
from latentlab.data.datasets import ImageData
from latentlab.errors import UserError
from latentlab.evaluation.likelihood import bounds
from latentlab.evaluation.references import REFERENCES, evaluate_checks, monotone_iwae_check
from latentlab.models.base import GenerativeModel


def test_images(data: ImageData, config: Config) -> Tensor:
    """The test set as the model sees it: binarized once with test_binarize_seed if training binarizes."""
    x = data.test_x
    if config.data.binarize == "none":
        return x
    return binarize(x, torch.Generator(device=x.device).manual_seed(config.eval.test_binarize_seed))


def evaluate(model: GenerativeModel, data: ImageData, config: Config, quiet: bool = True) -> dict:
    """The protocol of config.eval on `model`: {"protocol", "sections", "section_titles", "reference", "checks"}."""
    ev = config.eval
    if ev.protocol == "none":
        return {"protocol": {"name": "none"}, "sections": {}, "section_titles": {}, "reference": None, "checks": []}
    common = dict(iwae_k=ev.iwae_k, iwae_repeats=ev.iwae_repeats, chunk=ev.chunk, quiet=quiet)
    if len(ev.iwae_k) != len(ev.iwae_repeats):
        raise UserError("eval.iwae_k and eval.iwae_repeats must have the same length")
    protocol = {"name": ev.protocol, "iwae_k": list(ev.iwae_k), "subset_repeats": ev.subset_repeats,
                "iwae_repeats": list(ev.iwae_repeats), "seed": config.train.seed}
    sections, titles = {}, {}
    if ev.protocol == "cs236":
        if data.name != "mnist" or data.test_y is None:
            raise UserError(f"eval.protocol = \"cs236\" needs data.name = \"mnist\", got \"{data.name}\"; "
                            "use eval.protocol = \"test\"")
        from latentlab.data.cs236 import cs236_subset_description, cs236_test_subset

        subset = cs236_test_subset(data.test_x, data.test_y).to(data.test_x.device)
        sections["subset"] = bounds(model, subset, repeats=ev.subset_repeats, **common)
        titles["subset"] = f"CS236 subset ({len(subset)} images)"
        protocol["subset"] = cs236_subset_description()
    if ev.full_test or ev.protocol == "test":
        x = test_images(data, config)
        sections["full_test"] = bounds(model, x, repeats=1, **{**common, "iwae_repeats": (1,) * len(ev.iwae_k)})
        titles["full_test"] = f"full test set ({len(x):,} images, one pass each)"
        protocol["test_binarization"] = (
            "none" if config.data.binarize == "none"
            else f"static: one Bernoulli draw, torch.Generator seeded {ev.test_binarize_seed}"
        )
    ref = REFERENCES.get(ev.reference)
    checks = []
    first = next(iter(sections.values()), {})
    if ref is not None:
        checks += evaluate_checks(ref, first)
    for name, values in sections.items():
        mono = monotone_iwae_check(values)
        if mono:
            checks.append({**mono, "name": f"{titles[name]}: {mono['name']}"})
    reference = None if ref is None else {
        "name": ev.reference, "source": ref.source, "note": ref.note,
        "values": {k: list(v) for k, v in ref.values.items()}}
    return {"protocol": protocol, "sections": sections, "section_titles": titles, "reference": reference,
            "checks": checks}
