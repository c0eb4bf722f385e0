"""M2 against its mathematics, the labelled stream, exact resume with it, and the accuracy protocol."""

import math

import pytest
import torch
import torch.nn.functional as F

from latentlab.config import TrainConfig
from latentlab.data.batcher import Batcher
from latentlab.data.labelled import SemiSupervisedBatcher, labelled_subset
from latentlab.errors import UserError
from latentlab.evaluation.bound_protocols import accuracy
from latentlab.evaluation.references import REFERENCES, Reference, evaluate_checks
from latentlab.models.ssvae import SSVAE, SSVAEConfig
from latentlab.probability import kl_normal, log_bernoulli_with_logits
from latentlab.registry import build_config
from latentlab.run import Run
from latentlab.training.trainer import Trainer


def tiny_ssvae(**kw) -> SSVAE:
    return SSVAE(SSVAEConfig(z_dim=3, n_classes=4, classifier_hidden=16, **kw), (1, 4, 4))


def test_enumerated_elbo_equals_a_brute_force_sum_over_labels():
    model, x = tiny_ssvae(), torch.bernoulli(torch.rand(5, 1, 4, 4))
    torch.manual_seed(0)
    terms = model.negative_elbo_terms(x)
    torch.manual_seed(0)
    eps = torch.randn(4, 5, 3)  # the model draws one z per (y, x), label-major, in one call
    q_y = F.softmax(model.classify(x), -1)  # (B, Y)
    kl = (q_y * (q_y.log() - math.log(1 / 4))).sum(-1)  # KL(q(y|x) || uniform)
    rec = torch.zeros(5)
    for label in range(4):
        y = F.one_hot(torch.full((5,), label), 4).float()
        q_mean, q_var = model.encoder(x, y)
        z = q_mean + q_var.sqrt() * eps[label]
        rec = rec + q_y[:, label] * -log_bernoulli_with_logits(x.flatten(1), model.decoder(z, y))
        kl = kl + q_y[:, label] * kl_normal(q_mean, q_var, torch.zeros(3), torch.ones(3))
    torch.testing.assert_close(terms.nelbo, kl + rec)
    torch.testing.assert_close(terms.kl, kl)  # KL of y and, weighted by q(y|x), of z
    torch.testing.assert_close(terms.rec, rec)
    torch.testing.assert_close(terms.nelbo, terms.kl + terms.rec)


def test_loss_is_gw_nelbo_plus_cw_cross_entropy_and_gw_0_is_the_classifier_alone():
    x, xl, yl = torch.bernoulli(torch.rand(6, 1, 4, 4)), torch.bernoulli(torch.rand(4, 1, 4, 4)), torch.arange(4)
    batch = {"x": x, "x_labelled": xl, "y_labelled": yl}
    model = tiny_ssvae(gen_weight=0.5, class_weight=100.0)
    terms = model.loss(batch, "model")
    torch.testing.assert_close(terms["loss"], 0.5 * terms["nelbo"] + 100.0 * terms["ce"])
    torch.testing.assert_close(terms["ce"], F.cross_entropy(model.classify(xl), yl))
    supervised = tiny_ssvae(gen_weight=0.0)
    terms = supervised.loss(batch, "model")
    assert set(terms) == {"loss", "ce"}
    terms["loss"].backward()
    assert all(p.grad is None for p in [*supervised.encoder.parameters(), *supervised.decoder.parameters()])
    assert all(p.grad is not None for p in supervised.classifier.parameters())


def test_per_class_labelled_subset_is_seeded_and_balanced():
    x, y = torch.rand(300, 1, 2, 2), torch.arange(300) % 3
    xa, ya = labelled_subset("per_class", x, y, per_class=4, seed=1)
    xb, _ = labelled_subset("per_class", x, y, per_class=4, seed=1)
    xc, _ = labelled_subset("per_class", x, y, per_class=4, seed=2)
    assert ya.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and torch.equal(xa, xb) and not torch.equal(xa, xc)
    with pytest.raises(UserError, match="labels_per_class"):
        labelled_subset("per_class", x, y, per_class=101)


def stream(seed=0):
    g = torch.Generator().manual_seed(5)
    x, y = torch.rand(60, 1, 4, 4, generator=g), torch.arange(60) % 4
    xl, yl = labelled_subset("per_class", x, y, per_class=2)
    unlabelled = Batcher({"x": x, "y": y}, 7, seed=seed, binarization="dynamic")
    return SemiSupervisedBatcher(unlabelled, xl, yl, seed=seed, binarization="dynamic")


def test_labelled_stream_gives_the_whole_labelled_set_each_step_rebinarized():
    s = stream()
    a, b = s.next(), s.next()
    assert set(a) == {"x", "x_labelled", "y_labelled"}  # the unlabelled batch carries no labels
    assert a["x"].shape == (7, 1, 4, 4) and a["x_labelled"].shape == (8, 1, 4, 4)
    assert sorted(a["y_labelled"].tolist()) == sorted(b["y_labelled"].tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]
    order_a, order_b = torch.argsort(a["y_labelled"], stable=True), torch.argsort(b["y_labelled"], stable=True)
    assert set(a["x_labelled"].unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a["x_labelled"][order_a], b["x_labelled"][order_b])  # a fresh Bernoulli draw


def test_resume_with_the_labelled_stream_is_bit_identical(tmp_path):
    def trainer(run_dir, iterations):
        torch.manual_seed(0)
        cfg = TrainConfig(iterations=iterations, log_every=2, checkpoint_every=3)
        return Trainer(tiny_ssvae(), stream(), cfg, Run(run_dir), quiet=True)

    whole = trainer(tmp_path / "a", 8)
    whole.fit()
    trainer(tmp_path / "b", 5).fit()
    torch.manual_seed(99)
    second = trainer(tmp_path / "b", 8)
    assert second.resume() and second.step == 5
    second.fit()
    for (name, p), q in zip(whole.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_accuracy_and_its_checks():
    class Fixed:
        def classify(self, x):  # predicts class 0 for every image
            return torch.tensor([1.0, 0.0]).expand(len(x), 2)

    x, y = torch.zeros(10, 1, 2, 2), torch.tensor([0] * 7 + [1] * 3)
    assert accuracy(Fixed(), x, y, chunk=3) == pytest.approx(70.0)
    ref = Reference("bounds", {}, checks=[("a", "within", 10.0, 1.0), ("b", "between", 2.0, 3.0), ("c", ">=", 5.0),
                                          ("d", "<=", 5.0)])

    def passed(**values):
        return [c.passed for c in evaluate_checks(ref, values)]

    assert passed(a=11.0, b=2.0, c=5.0, d=5.0) == [True] * 4  # every bound is inclusive
    assert passed(a=11.01, b=3.01, c=4.99, d=5.01) == [False] * 4
    assert passed(a=8.99, b=1.99) == [False, False]  # below the lower bounds; c and d missing: skipped
    for key, metric in (("cs236_ssvae_gw0", "accuracy"), ("cs236_ssvae_gw1", "accuracy")):  # one check each
        assert [c.name.split()[0] for c in evaluate_checks(REFERENCES[key], {metric: 0.0})] == [metric]


def test_labelled_stream_config_is_checked():
    cfg = build_config({"model": {"name": "ssvae"}, "data": {"labelled": "per_class", "labels_per_class": 3}})
    assert cfg.data.labelled == "per_class" and cfg.model.class_weight == 100.0
    with pytest.raises(UserError, match="labelled"):
        build_config({"model": {"name": "ssvae"}, "data": {"labelled": "some"}})
