"""Evaluation protocols as one table: each entry says whether it fits a model and its data, and runs it.

none:     nothing is measured.
cs236, test, accuracy: bounds or a classifier's accuracy on test images (evaluation/bound_protocols.py;
          docs/protocols.md, section A).
samples2d: docs/protocols.md, section C, for 2-D data: MMD, energy distance and sliced Wasserstein of model
          samples against real draws, beside the same metrics between real draws (the floor); for
          the Gaussian mixtures also modes covered, share within 3σ and the learned score's error
          (evaluation/samples2d.py).
samples_mnist, samples_fashion: docs/protocols.md, section D, for MNIST and Fashion-MNIST image samples
          (1×28×28): the Fréchet distance, precision and recall (k = 3) of the dataset's feature
          classifier's penultimate features, its Inception score and class frequencies of 10,000
          model samples against the test set, beside a 10,000-image train sample's (the floor); the
          classifier's SHA-256 is recorded (evaluation/classifier_metrics.py). Other image data has
          no feature classifier: these scores are not computed for it.
latent_prior: docs/protocols.md, section G, for a prior fitted on a parent run's codes (model.name =
          "latent_prior"): latent energy distance and MMD, ELBO and IWAE-k, and for MNIST and Fashion-MNIST the
          classifier scores, each beside the parent's N(0, I) (evaluation/latent_prior_metrics.py).
translation: docs/protocols.md, section E, for a translator between two domains: translation success,
          FID and KID on a domain classifier's features, cycle and identity errors on the test domains,
          beside the untranslated images and real against real, the identity and a colour transfer; a
          colour-blind judge's success, and Inception FID and KID where its weights are on the machine
          (evaluation/translation_metrics.py).

Each rule that decides whether a protocol fits is written once, in the table, and asked twice: when a
config is read (`refusal(None, plan(config))`: no model yet and only what the config says of its data)
and before a model is trained or evaluated (`refusal(model, data)`), so a misfit is refused before any work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from latentlab.data.handoff import Data, DataPlan
from latentlab.errors import UserError
from latentlab.evaluation.bound_protocols import run_accuracy, run_cs236, run_test
from latentlab.evaluation.classifier_metrics import DATASETS, samples_protocol
from latentlab.fields import show
from latentlab.models.base import Classifier, GenerativeModel, Translator

Rule = Callable[[GenerativeModel | None, "Data | DataPlan"], "str | None"]


@dataclass(frozen=True)
class Protocol:
    """One protocol: the rules a model and its data must meet (each returns None or why not, in words that
    follow 'eval.protocol = "<name>" is not accepted') and `run(model, data, config, quiet)` -> its results,
    {"protocol", "sections", "section_titles", "reference", "checks"}."""

    run: Callable[..., dict]
    rules: tuple[Rule, ...] = ()


def _one_phase(model, data) -> str | None:
    if model is not None and "model" not in model.phases:  # the bounds average the terms of loss(x, "model")
        return (f" for model.name = \"{data.config.model.name}\": it averages the loss terms of a one-phase model "
                f"(this one has phases {', '.join(sorted(set(model.phases)))}); "
                "use \"samples2d\", \"samples_mnist\", \"samples_fashion\" or \"none\"")


def _classifier(model, data) -> str | None:
    if model is not None and not isinstance(model, Classifier):
        return f" for model.name = \"{data.config.model.name}\": it needs a classifier q(y|x) (ssvae)"


def _translator(model, data) -> str | None:
    if model is not None and not isinstance(model, Translator):
        return f" for model.name = \"{data.config.model.name}\": it needs a translator between two domains (cyclegan)"


def _mnist(model, data) -> str | None:
    if data.name != "mnist":
        return f": not \"cs236\" for data.name = \"{data.name}\" (its subset is MNIST's): use \"test\""


def _labelled(model, data) -> str | None:
    if data.test_labelled is False:
        return f": it needs a labelled test set, and \"{data.name}\" has none"


def _points(model, data) -> str | None:
    if data.kind != "points":
        return f": not \"samples2d\" for data.name = \"{data.name}\" (it scores 2-D samples): use \"test\""


def _feature_data(protocol: str) -> Rule:
    """The rule of an image-sample protocol: the dataset whose feature classifier it reads (DATASETS), at 28×28."""
    name = next(n for n, d in DATASETS.items() if d.protocol == protocol)

    def rule(model, data) -> str | None:
        if data.name == name:
            return None if not data.config.data.image_size else (
                f": its feature classifier reads {DATASETS[name].title} at 28×28, and data.image_size = "
                f"{show(data.config.data.image_size)}: set data.image_size = []")
        if data.name in DATASETS:
            return f": not \"{protocol}\" for data.name = \"{data.name}\": use \"{DATASETS[data.name].protocol}\""
        if data.kind == "points":
            return f": not \"{protocol}\" for data.name = \"{data.name}\" (2-D points): use \"samples2d\""
        have = " and ".join(f"{d.title} (\"{d.protocol}\")" for d in DATASETS.values())
        return (f": not \"{protocol}\" for data.name = \"{data.name}\": FID, IS, precision and recall need a "
                f"feature classifier, and only {have} at 28×28 have one; use \"test\" or \"none\" "
                "(docs/protocols.md, section D)")

    return rule


def _latent_prior(model, data) -> str | None:
    if data.config.model.name != "latent_prior":
        return (f" for model.name = \"{data.config.model.name}\": it scores a prior fitted on a parent run's codes "
                "(latentlab prior RUN)")


def _none(model, data, config, quiet=True) -> dict:
    return {"protocol": {"name": "none"}, "sections": {}, "section_titles": {}, "reference": None, "checks": []}


def _samples2d(model, data, config, quiet=True) -> dict:
    from latentlab.evaluation.samples2d import samples2d_protocol

    return samples2d_protocol(model, data, config)


def _image_samples(model, data, config, quiet=True) -> dict:
    return samples_protocol(model, data, config)


def _translation(model, data, config, quiet=True) -> dict:
    from latentlab.evaluation.translation_metrics import translation_protocol

    return translation_protocol(model, data, config)


def _latent_priors(model, data, config, quiet=True) -> dict:
    from latentlab.evaluation.latent_prior_metrics import latent_prior_protocol

    return latent_prior_protocol(model, data, config)


PROTOCOLS: dict[str, Protocol] = {
    "none": Protocol(_none),
    "cs236": Protocol(run_cs236, (_one_phase, _mnist)),
    "test": Protocol(run_test, (_one_phase,)),
    "accuracy": Protocol(run_accuracy, (_classifier, _labelled)),
    "samples2d": Protocol(_samples2d, (_points,)),
    "samples_mnist": Protocol(_image_samples, (_feature_data("samples_mnist"),)),
    "samples_fashion": Protocol(_image_samples, (_feature_data("samples_fashion"),)),
    "translation": Protocol(_translation, (_translator,)),
    "latent_prior": Protocol(_latent_priors, (_latent_prior,)),
}


def refusal(model: GenerativeModel | None, data: Data | DataPlan) -> str | None:
    """Why data.config's eval.protocol cannot evaluate `model` on `data` (one line), or None where it can.
    `model` None and a DataPlan: what can be known from the config alone."""
    name = data.config.eval.protocol
    for rule in PROTOCOLS[name].rules:
        why = rule(model, data)
        if why is not None:
            return f"eval.protocol = \"{name}\" is not accepted{why}"
    return None


def refuse_unfit(model: GenerativeModel, data: Data) -> None:
    """A UserError, before any training or evaluation, where the config's protocol cannot evaluate `model` on `data`."""
    why = refusal(model, data)
    if why is not None:
        raise UserError(why)


def evaluate(model: GenerativeModel, data: Data, config, quiet: bool = True) -> dict:
    """The protocol of config.eval on `model` and `data`, as results.json keeps it (each Check as a dict)."""
    refuse_unfit(model, data)
    return recorded(PROTOCOLS[config.eval.protocol].run(model, data, config, quiet))


def recorded(results: dict) -> dict:
    """A protocol's results as results.json keeps them: each Check as {"name", "passed", "value"}."""
    return {**results, "checks": [c.as_dict() for c in results["checks"]]}
