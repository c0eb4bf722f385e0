"""Evaluation protocols: which images, how binarized, how many repeats — recorded beside the numbers.

cs236: CS236 homework 2 (docs/protocols.md, section A). NELBO, KL, Rec over `subset_repeats` passes of the
       fixed 100-image test subset; -IWAE-k over `iwae_repeats` passes; then (full_test) every
       bound once on the whole 10,000-image test set, statically binarized with a recorded seed.
test:  the whole test set only, as for cs236's second part; a conditional model (one with a
       bound on log p(x|y)) is given the test labels, and its numbers are those of log p(x|y).
accuracy: the test accuracy of q(y|x) (a Classifier) on the whole test set, grey (not binarized),
       as CS236 evaluates its semi-supervised VAE.
samples2d: docs/protocols.md, section C, for 2-D data: MMD, energy distance and sliced Wasserstein of model
       samples against real draws, beside the same metrics between real draws (the floor); for
       the Gaussian mixtures also modes covered, share within 3σ and the learned score's error
       (evaluation/samples2d.py).
samples_mnist: docs/protocols.md, section D, for MNIST image samples: the Fréchet distance of the feature
       classifier's penultimate features, its Inception score and class frequencies of 10,000
       model samples against the test set, beside a 10,000-image train sample's (the floor); the
       classifier's SHA-256 is recorded (evaluation/classifier_metrics.py).
translation: docs/protocols.md, section E, for a translator between two domains: translation success,
       FID and KID on a domain classifier's features, cycle and identity errors on the test domains,
       beside the untranslated images and real against real (evaluation/translation_metrics.py).
The user's own images (data/own.py) get each bound in bits per dimension too (bpd_*), beside nats.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from latentlab.config import Config
from latentlab.data.batcher import binarize
from latentlab.data.handoff import Data
from latentlab.errors import UserError
from latentlab.evaluation.likelihood import bits_per_dim, bounds
from latentlab.evaluation.references import REFERENCES, evaluate_checks, monotone_iwae_check
from latentlab.models.base import (Classifier, ConditionalDecoder, ConditionalLikelihoodBound, Decoder,
                                   GenerativeModel, Translator)


def test_images(data: Data, config: Config) -> Tensor:
    """The test set as the model sees it: binarized once with test_binarize_seed if training binarizes."""
    x = data.test_x
    if config.data.binarize == "none":
        return x
    return binarize(x, torch.Generator(device=x.device).manual_seed(config.eval.test_binarize_seed))


def refuse_unfit_protocol(model: GenerativeModel, config: Config) -> None:
    """A UserError, before any training, when config.eval.protocol cannot evaluate this model."""
    protocol, name = config.eval.protocol, config.model.name
    if protocol in ("cs236", "test") and "model" not in model.phases:  # they average the terms of loss(x, "model")
        raise UserError(f"eval.protocol = \"{protocol}\" is not accepted for model.name = \"{name}\": it averages "
                        f"the loss terms of a one-phase model (this one has phases {', '.join(sorted(set(model.phases)))}); "
                        "use \"samples2d\", \"samples_mnist\" or \"none\"")
    if protocol == "accuracy" and not isinstance(model, Classifier):
        raise UserError(f"eval.protocol = \"accuracy\" is not accepted for model.name = \"{name}\": it needs a "
                        "classifier q(y|x) (ssvae)")
    if protocol == "translation" and not isinstance(model, Translator):
        raise UserError(f"eval.protocol = \"translation\" is not accepted for model.name = \"{name}\": it needs a "
                        "translator between two domains (cyclegan)")


def evaluate(model: GenerativeModel, data: Data, config: Config, quiet: bool = True) -> dict:
    """The protocol of config.eval on `model`: {"protocol", "sections", "section_titles", "reference", "checks"}."""
    ev = config.eval
    if ev.protocol == "none":
        return {"protocol": {"name": "none"}, "sections": {}, "section_titles": {}, "reference": None, "checks": []}
    if ev.protocol == "samples2d":  # 2-D sample metrics beside their real-vs-real floors
        from latentlab.evaluation.samples2d import samples2d_protocol

        return recorded(samples2d_protocol(model, data, config))
    if ev.protocol == "samples_mnist":  # classifier-feature FID, IS, class frequencies beside the real floor
        from latentlab.evaluation.classifier_metrics import samples_mnist_protocol

        return recorded(samples_mnist_protocol(model, data, config))
    if ev.protocol == "translation":  # classifier success, FID/KID, cycle errors beside their references
        from latentlab.evaluation.translation_metrics import translation_protocol

        return recorded(translation_protocol(model, data, config))
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
    if ev.protocol == "accuracy":
        if not isinstance(model, Classifier) or data.test_y is None:
            raise UserError(f"eval.protocol = \"accuracy\" needs a classifier (ssvae) and a labelled dataset, "
                            f"got model.name = \"{config.model.name}\" on \"{data.name}\"")
        sections["test"] = {"accuracy": accuracy(model, data.test_x, data.test_y, ev.chunk)}
        titles["test"] = f"full test set ({len(data.test_x):,} grey images)"
        protocol["test_images"] = "grey (pixel/255), not binarized"
    elif ev.full_test or ev.protocol == "test":
        x = test_images(data, config)
        y = data.test_y if isinstance(model, ConditionalLikelihoodBound) else None
        sections["full_test"] = bounds(model, x, repeats=1, y=y,
                                       **{**common, "iwae_repeats": (1,) * len(ev.iwae_k)})
        titles["full_test"] = f"full test set ({len(x):,} images, one pass each" + \
            (", bounds on log p(x|y))" if y is not None else ")")
        protocol["test_binarization"] = (
            "none" if config.data.binarize == "none"
            else f"static: one Bernoulli draw, torch.Generator seeded {ev.test_binarize_seed}"
        )
    if data.own and data.kind == "images":  # the user's own images: bits per dimension too
        protocol["bits_per_dim"] = _add_bits_per_dim(sections, data.test_x[0].numel(), config, model)
    ref = REFERENCES.get(ev.reference)
    if ref is not None and data.own:  # a preset's published numbers are for its own dataset
        protocol["reference"] = f"{ev.reference}: not compared, its published numbers are for another dataset"
        ref = None
    checks = []
    first = next(iter(sections.values()), {})
    if ref is not None:
        checks += evaluate_checks(ref, first)
    for name, values in sections.items():
        mono = monotone_iwae_check(values)
        if mono:
            checks.append(replace(mono, name=f"{titles[name]}: {mono.name}"))
    reference = None if ref is None else {
        "name": ev.reference, "source": ref.source, "note": ref.note,
        "values": {k: list(v) for k, v in ref.values.items()}}
    return recorded({"protocol": protocol, "sections": sections, "section_titles": titles, "reference": reference,
                     "checks": checks})


def recorded(results: dict) -> dict:
    """A protocol's results as results.json keeps them: each Check as {"name", "passed", "value"}."""
    return {**results, "checks": [c.as_dict() for c in results["checks"]]}


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


@torch.no_grad()
def accuracy(model: Classifier, x: Tensor, y: Tensor, chunk: int) -> float:
    """Percentage of x whose most probable class under q(y|x) is its label y."""
    correct = 0
    for i in range(0, len(x), chunk):
        correct += int((model.classify(x[i : i + chunk]).argmax(-1) == y[i : i + chunk]).sum())
    return 100.0 * correct / len(x)
