"""A Bernoulli VAE with a 2-D latent on MNIST (docs/protocols.md, section C, Homework 5).

Trains the CS236 VAE (`cs236_vae`: v1 MLPs, dynamically binarized MNIST, Adam 1e-3, batch 97)
with model.z_dim = 2 through `latentlab.api.train`, whose evaluation draws the figures this page
shows: (i) samples as decoder probabilities and as Bernoulli draws; (ii) the decoded manifold over
a 20 × 20 grid of [−3, 3]² and the encoded test set coloured by label; (iii) interpolation between
the encodings of test digits at α = 0, 0.1, …, 1. The numbers: the CS236-subset bounds, and how
well the 2-D codes alone separate the digits (a k-nearest-neighbour classifier on the codes).

Budgets: quick = 20 iterations (the tests); standard = the protocol's 20,000 iterations (~32 epochs),
evaluated on the CS236 subset; full = the same, and every bound on the full test set as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from latentlab.data.handoff import prepare
from latentlab.reporting.study import Section, Table
from latentlab.run import Run
from latentlab.studies.base import Study, study

@dataclass(frozen=True)
class Budget:
    overrides: tuple[str, ...] = ()  # of cs236_vae, beside model.z_dim = 2


BUDGETS = {
    "quick": Budget(("train.iterations=20", "eval.subset_repeats=1", "eval.iwae_k=[1, 10]",
                     "eval.iwae_repeats=[1, 1]", "eval.full_test=false", "train.log_every=5")),
    "standard": Budget(("eval.full_test=false",)),  # the preset's 20,000 iterations; the CS236 subset only
    "full": Budget(),  # and every bound on the full test set too (IWAE-1000 over 10,000 images: long)
}
KNN_K, KNN_TRAIN = 5, 10_000  # neighbours, and training codes the test codes are compared with


@study("vae-2d", BUDGETS)
def run(s: Study, b: Budget) -> Path:
    """Train (or reuse) the 2-D-latent VAE and write the study page; returns its path."""
    vae = s.run("vae_z2", "cs236_vae", ["model.z_dim=2", 'eval.reference=""', *b.overrides])
    results = vae.results
    knn = latent_knn_accuracy(vae, s.device, s.data_dir)
    bounds = "; ".join(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in vals.items())
                       for name, vals in results["sections"].items())
    s.log(f"{results['step']} iterations: {bounds}; {KNN_K}-NN accuracy on the 2-D codes {100 * knn:.1f} %")
    summary = {"run": str(vae.path), "step": results["step"], "sections": results["sections"], "knn_accuracy": knn}
    return s.finish(summary, title="A VAE with a 2-D latent on MNIST", sections=_sections(vae.path, results, knn),
                    intro=_intro(results))


@torch.no_grad()
def latent_knn_accuracy(run_dir: Run | Path, device, data_dir) -> float:
    """Test accuracy of a k-nearest-neighbour vote over the q(z|x) means of KNN_TRAIN training images
    (grey values, not binarized): how much of the label the 2-D code keeps."""
    run = Run.open(run_dir)
    model, data = run.load_model(device), prepare(run.config, data_dir, device)
    z_train = model.encode(data.train_x[:KNN_TRAIN])[0]
    y_train = data.train_y[:KNN_TRAIN]
    correct = 0
    for xb, yb in zip(data.test_x.split(1000), data.test_y.split(1000)):
        nearest = torch.cdist(model.encode(xb)[0], z_train).topk(KNN_K, largest=False).indices  # (B, K)
        votes = torch.nn.functional.one_hot(y_train[nearest], 10).sum(1)  # (B, 10)
        correct += int((votes.argmax(1) == yb).sum())
    return correct / len(data.test_x)


def _intro(results: dict) -> str:
    return (f"The CS236 VAE (v1 MLPs, Bernoulli decoder, dynamically binarized MNIST) with a 2-dimensional latent, "
            f"trained {results['step']:,} iterations through latentlab.api.train. With z = 2 the whole latent space "
            "can be drawn: the decoder's map from the plane to digits, and where the encoder puts each test digit.")


def _sections(run_dir: Path, results: dict, knn: float) -> list[Section]:
    fig = Run(run_dir).figures_dir
    tables = [Table(["bound (nats per image)", *vals.keys()], [["value", *vals.values()]],
                    caption=results["section_titles"].get(name, name))
              for name, vals in results["sections"].items()]
    return [
        Section("Numbers", text=f"{KNN_K}-nearest-neighbour accuracy of the digit label from the 2-D codes alone "
                                f"(10,000 test images against {KNN_TRAIN:,} training codes): {100 * knn:.1f} %.",
                tables=tables),
        Section("(i) Samples", text="The same z ~ N(0, I) decoded: pixel probabilities (top) and one Bernoulli draw "
                                    "of every pixel (bottom).", figures=[("samples", fig / "samples.png")]),
        Section("(ii) The latent plane",
                text="First the decoder's mean over a 20 × 20 grid of [−3, 3]², then the posterior means of the "
                     "10,000 test digits, coloured by label: where a label's cloud sits, the manifold draws it.",
                figures=[("decoded manifold", fig / "latent_manifold.png"),
                         ("encoded test set", fig / "latent_scatter.png")]),
        Section("(iii) Interpolation", text="Decoded (1 − α) z_a + α z_b between the encodings of two test digits, "
                                            "α = 0, 0.1, …, 1, one pair per row.",
                figures=[("interpolation", fig / "interpolation.png"),
                         ("reconstructions of test digits", fig / "reconstructions.png")]),
        Section("Training", figures=[("training curves", fig / "loss_curves.png")]),
    ]
