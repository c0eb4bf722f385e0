"""The table of evaluation protocols: one entry per eval.protocol, each rule asked when a config is read
(no model, only what the config says of its data) and again before training or evaluation."""

from __future__ import annotations

import pytest
import torch

from latentlab.data.datasets import ImageData
from latentlab.data.handoff import Data, plan
from latentlab.errors import UserError
from latentlab.fields import ConfigError
from latentlab.evaluation.protocols import PROTOCOLS, refusal, refuse_unfit
from latentlab.registry import build_config, build_model


def test_every_protocol_a_config_accepts_has_one_entry():
    with pytest.raises(ConfigError) as refused:
        build_config({"model": {"name": "vae"}, "eval": {"protocol": "nope"}})
    accepted = {name.strip('" ') for name in str(refused.value).split("one of ")[1].split(",")}
    assert accepted == set(PROTOCOLS)


@pytest.mark.parametrize("data, protocol, known", [
    ({"name": "folder", "path": "x"}, "cs236", True),      # the subset is MNIST's: known from the name
    ({"name": "mnist"}, "samples2d", True),                 # images are not 2-D points
    ({"name": "array", "path": "x.npy"}, "samples2d", True),  # an array is images or a table, never points
    ({"name": "mnist", "image_size": [14, 14]}, "samples_mnist", True),
    ({"name": "fashion_mnist"}, "samples_mnist", True),     # each image-sample protocol has its one dataset
    ({"name": "mnist"}, "samples_fashion", True),
    ({"name": "folder", "path": "x"}, "samples_fashion", True),  # no feature classifier for the user's images
    ({"name": "folder", "path": "x"}, "accuracy", False),   # labels: known only once the folder is read
])
def test_a_rule_refuses_when_the_config_is_read_if_the_config_tells(data, protocol, known):
    raw = {"model": {"name": "ssvae" if protocol == "accuracy" else "vae"},
           "data": {"binarize": "none", **data}, "eval": {"protocol": protocol}}
    if known:
        with pytest.raises(ConfigError, match=f'eval.protocol = "{protocol}" is not accepted: '):
            build_config(raw)
    else:
        config = build_config(raw)
        assert refusal(None, plan(config)) is None


@pytest.mark.parametrize("data, protocol, says", [
    ({"name": "svhn"}, "samples_mnist", 'not "samples_mnist" for data.name = "svhn": FID, IS, precision and recall '
                                        'need a feature classifier, and only MNIST ("samples_mnist") and '
                                        'Fashion-MNIST ("samples_fashion") at 28×28 have one; use "test" or "none"'),
    ({"name": "olivetti_faces"}, "samples_fashion", 'not "samples_fashion" for data.name = "olivetti_faces": FID, IS'),
    ({"name": "fashion_mnist"}, "samples_mnist", 'not "samples_mnist" for data.name = "fashion_mnist": '
                                                 'use "samples_fashion"'),
    ({"name": "mnist"}, "samples_fashion", 'not "samples_fashion" for data.name = "mnist": use "samples_mnist"'),
    ({"name": "fashion_mnist", "image_size": [32, 32]}, "samples_fashion",
     "its feature classifier reads Fashion-MNIST at 28×28, and data.image_size = [32, 32]: set data.image_size = []"),
    ({"name": "moons"}, "samples_fashion", 'not "samples_fashion" for data.name = "moons" (2-D points): use "samples2d"'),
])
def test_image_sample_protocols_say_in_one_line_what_they_score(data, protocol, says):
    raw = {"model": {"name": "vae"}, "data": {"binarize": "none", **data}, "eval": {"protocol": protocol}}
    with pytest.raises(ConfigError) as refused:
        build_config(raw)
    assert str(refused.value).startswith(f'eval.protocol = "{protocol}" is not accepted: ')
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_the_same_rule_refuses_the_data_once_read():
    config = build_config({"model": {"name": "ssvae"}, "data": {"name": "folder", "path": "x", "binarize": "none"},
                           "eval": {"protocol": "accuracy"}})
    x = torch.rand(6, 1, 28, 28)
    model = build_model(config.model, (1, 28, 28))
    unlabelled = Data.of(ImageData(x, None, x, None, name="folder"), config)
    with pytest.raises(UserError, match='eval.protocol = "accuracy" is not accepted: it needs a labelled test set'):
        refuse_unfit(model, unlabelled)
    labelled = Data.of(ImageData(x, torch.arange(6) % 2, x, torch.arange(6) % 2, name="folder"), config)
    refuse_unfit(model, labelled)  # fits


def test_model_rules_wait_for_the_model():
    config = build_config({"model": {"name": "gan", "net": "mlp"}, "data": {"name": "8gaussians", "binarize": "none"},
                           "eval": {"protocol": "test"}})  # read without complaint: no model yet
    model = build_model(config.model, (2,))
    why = refusal(model, plan(config))
    assert why.startswith('eval.protocol = "test" is not accepted for model.name = "gan": it averages')
