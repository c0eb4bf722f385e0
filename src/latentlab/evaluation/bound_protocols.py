"""The protocols that average a model's bounds or its classifier over test images: cs236, test, accuracy.

cs236: CS236 homework 2 (docs/protocols.md, section A). NELBO, KL, Rec over `subset_repeats` passes of the
       fixed 100-image test subset; -IWAE-k over `iwae_repeats` passes; then (full_test) every
       bound once on the whole 10,000-image test set, statically binarized with a recorded seed.
test:  the whole test set only, as for cs236's second part; a conditional model (one with a
       bound on log p(x|y)) is given the test labels, and its numbers are those of log p(x|y).
accuracy: the test accuracy of q(y|x) (a Classifier) on the whole test set, grey (not binarized),
       as CS236 evaluates its semi-supervised VAE.
The user's own images get each bound in bits per dimension too (bpd_*), beside nats. Each compares
its first section with the published numbers eval.reference names, where they are for these data.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from latentlab.config import Config
from latentlab.data.batcher import binarize
from latentlab.data.handoff import Data
from latentlab.evaluation.likelihood import bits_per_dim, bounds
from latentlab.evaluation.references import REFERENCES, evaluate_checks, monotone_iwae_check
from latentlab.models.base import Classifier, ConditionalDecoder, ConditionalLikelihoodBound, Decoder, GenerativeModel


def run_cs236(model: GenerativeModel, data: Data, config: Config, quiet: bool = True) -> dict:
    """The CS236 subset's bounds, then (eval.full_test) the whole test set's."""
    from latentlab.data.cs236 import cs236_subset_description, cs236_test_subset

    ev, protocol = config.eval, _description(config)
    subset = cs236_test_subset(data.test_x, data.test_y).to(data.test_x.device)
    sections = {"subset": bounds(model, subset, repeats=ev.subset_repeats, iwae_k=ev.iwae_k,
                                 iwae_repeats=ev.iwae_repeats, chunk=ev.chunk, quiet=quiet)}
    titles = {"subset": f"CS236 subset ({len(subset)} images)"}
    protocol["subset"] = cs236_subset_description()
    if ev.full_test:
        _full_test(model, data, config, protocol, sections, titles, quiet)
    return _with_references(model, data, config, protocol, sections, titles)


def run_test(model: GenerativeModel, data: Data, config: Config, quiet: bool = True) -> dict:
    """Every bound once on the whole test set."""
    protocol, sections, titles = _description(config), {}, {}
    _full_test(model, data, config, protocol, sections, titles, quiet)
    return _with_references(model, data, config, protocol, sections, titles)


def run_accuracy(model: Classifier, data: Data, config: Config, quiet: bool = True) -> dict:
    """The accuracy of q(y|x) on the whole grey test set."""
    protocol = {**_description(config), "test_images": "grey (pixel/255), not binarized"}
    sections = {"test": {"accuracy": accuracy(model, data.test_x, data.test_y, config.eval.chunk)}}
    titles = {"test": f"full test set ({len(data.test_x):,} grey images)"}
    return _with_references(model, data, config, protocol, sections, titles)


def test_images(data: Data, config: Config) -> Tensor:
    """The test set as the model sees it: binarized once with test_binarize_seed if training binarizes."""
    x = data.test_x
    if config.data.binarize == "none":
        return x
    return binarize(x, torch.Generator(device=x.device).manual_seed(config.eval.test_binarize_seed))


@torch.no_grad()
def accuracy(model: Classifier, x: Tensor, y: Tensor, chunk: int) -> float:
    """Percentage of x whose most probable class under q(y|x) is its label y."""
    correct = 0
    for i in range(0, len(x), chunk):
        correct += int((model.classify(x[i : i + chunk]).argmax(-1) == y[i : i + chunk]).sum())
    return 100.0 * correct / len(x)


def _description(config: Config) -> dict:
    ev = config.eval
    return {"name": ev.protocol, "iwae_k": list(ev.iwae_k), "subset_repeats": ev.subset_repeats,
            "iwae_repeats": list(ev.iwae_repeats), "seed": config.train.seed}


def _full_test(model, data: Data, config: Config, protocol: dict, sections: dict, titles: dict, quiet: bool) -> None:
    """Every bound once on the whole test set (a conditional model's on log p(x|y), given the labels)."""
    ev = config.eval
    x = test_images(data, config)
    y = data.test_y if isinstance(model, ConditionalLikelihoodBound) else None
    sections["full_test"] = bounds(model, x, repeats=1, y=y, iwae_k=ev.iwae_k, iwae_repeats=(1,) * len(ev.iwae_k),
                                   chunk=ev.chunk, quiet=quiet)
    titles["full_test"] = f"full test set ({len(x):,} images, one pass each" + \
        (", bounds on log p(x|y))" if y is not None else ")")
    protocol["test_binarization"] = (
        "none" if config.data.binarize == "none"
        else f"static: one Bernoulli draw, torch.Generator seeded {ev.test_binarize_seed}"
    )


def _with_references(model, data: Data, config: Config, protocol: dict, sections: dict, titles: dict) -> dict:
    """The protocol's results: bits per dimension for the user's own images, the published numbers of
    eval.reference beside the first section (where they are for these data) and the monotone IWAE checks."""
    ev = config.eval
    if data.own and data.kind == "images":
        protocol["bits_per_dim"] = _add_bits_per_dim(sections, data.test_x[0].numel(), config, model)
    ref = REFERENCES.get(ev.reference)
    if ref is not None and data.own:  # a preset's published numbers are for its own dataset
        protocol["reference"] = f"{ev.reference}: not compared, its published numbers are for another dataset"
        ref = None
    checks = [] if ref is None else evaluate_checks(ref, next(iter(sections.values()), {}))
    for name, values in sections.items():
        mono = monotone_iwae_check(values)
        if mono:
            checks.append(replace(mono, name=f"{titles[name]}: {mono.name}"))
    reference = None if ref is None else {
        "name": ev.reference, "source": ref.source, "note": ref.note,
        "values": {k: list(v) for k, v in ref.values.items()}}
    return {"protocol": protocol, "sections": sections, "section_titles": titles, "reference": reference,
            "checks": checks}


def _add_bits_per_dim(sections: dict, dims: int, config: Config, model: GenerativeModel) -> str:
    """Add bpd_* beside each bound of every section; returns how they were computed. Binary data: the
    bound / (D ln 2); a Gaussian on [0, 1] pixels: + 8 bits, the 8-bit bins (evaluation/likelihood.py)."""
    if config.data.binarize != "none":
        offset, rule = 0.0, "nats / (D ln 2), D = %d binary values" % dims
    elif isinstance(model, (Decoder, ConditionalDecoder)) and model.likelihood == "gaussian":
        offset, rule = 8.0, "nats / (D ln 2) + 8: the Gaussian density on [0, 1] as 8-bit bins, D = %d" % dims
    else:
        return "not reported: a Bernoulli decoder on grey values is no normalised density of them"
    for values in sections.values():
        values.update(bits_per_dim(values, dims, offset))
    return rule
