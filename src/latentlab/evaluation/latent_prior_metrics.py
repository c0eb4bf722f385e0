"""eval.protocol = "latent_prior": what a post-hoc prior buys, each number beside the parent's N(0, I)'s
(docs/protocols.md, section G).

latent:   energy distance and MMD² (evaluation/sample_metrics.py's V-statistics, in Z dimensions) between n
          prior draws and the codes of n test images (one draw z ~ q(z|x) each), and between n draws of
          N(0, I) and the same codes. The n images are drawn at random from the test set (seeded): its first
          n are not a fair sample (MNIST's first 5,000 test digits come from other writers than its last
          5,000; measured on the CS236 VAE, the codes of the two halves are 0.17 apart in energy, against
          0.014 between N(0, I) and the codes of 5,000 random test images). The RBF bandwidths are sample_metrics.BANDWIDTHS times √(Z/2): a
          typical distance between two unit-variance points grows as √(2Z), so the kernels look at the
          same relative scales as in 2-D.
bounds:   the ELBO and IWAE-k of the test images (statically binarized as the parent's protocol does) with
          the prior in place of N(0, I):  log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x),  z_i ~ q(z|x) (Burda et
          al. 2016, eq. 8; k = 1 is the ELBO). The mixture's p(z) is exact. The two-stage prior's p(z) is
          replaced by the second stage's IWAE-K₂ estimate p̂(z) (K₂ = INNER_K): E p̂(z) = p(z), so the
          average weight is still an unbiased estimate of p(x) and its log a lower bound on log p(x)
          (Jensen), lower than the bound with the exact p(z). The diffusion prior has no density: no bounds.
          A parent with a deterministic encoder (an AE) has no bounds either (q(z|x) has no density).
samples:  for MNIST and Fashion-MNIST at 28×28, the feature classifier's FID, IS, precision and recall
          (evaluation/classifier_metrics.py) of x ~ p(x|z), z ~ prior, and of the parent's z ~ N(0, I); the
          same four of the decoder means E[x|z] of the same z as "fid_means", "is_means", ... (a Bernoulli
          decoder's draws are binary images, far from the grey test images whatever z they come from).
a prior per label (a conditional parent, models/latent_prior_conditional.py): the codes are z ~ q(z|x, y) with
          the test labels, the prior's draws z ~ p(z|y) with the same labels, N(0, I)'s draws as above; the bounds
          are of log p(x|y), with p(z|y) in place of N(0, I); the decoded samples take uniform labels y, as the
          CVAE samples, and the same y under both priors.
times:    the fit (the mixture's EM; the other priors' fit is the training time in results.json's elapsed),
          drawing n codes, and decoding them.
"""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from latentlab.data.batcher import binarize
from latentlab.evaluation.sample_metrics import BANDWIDTHS, energy_and_mmd2
from latentlab.models.base import ConditionalFittedPrior
from latentlab.models.priors import StandardNormal
from latentlab.objectives.elbo import iwae_key

N_CODES = 5_000  # test codes and prior draws of the latent metrics (three 5,000² distance blocks)
INNER_K = 10  # the two-stage prior's samples per estimate of p(z) inside the bounds
N_BOUND = 2_000  # test images of the bounds


def latent_distances(z: Tensor, codes: Tensor) -> dict[str, float]:
    """{"energy", "mmd2"} between draws z (n, Z) and codes (n, Z), bandwidths scaled by √(Z/2)."""
    scale = math.sqrt(codes.shape[-1] / 2)
    energy, mmd2 = energy_and_mmd2(z, codes, tuple(h * scale for h in BANDWIDTHS))
    return {"energy": energy, "mmd2": mmd2}


@torch.no_grad()
def bounds(model, x: Tensor, log_pz, ks: tuple[int, ...], chunk: int, y: Tensor | None = None) -> dict[str, float]:
    """{"elbo" or "iwae_k": mean bound in nats} of images x under the parent's q(z|x), p(x|z) and `log_pz`
    (a conditional parent: of x given their labels y, under q(z|x, y), p(x|y, z) and log_pz(z, y))."""
    out = {}
    for k in ks:
        total, size = 0.0, max(1, chunk // k)
        for i in range(0, len(x), size):
            labels = () if y is None else (y[i : i + size],)
            total += float(model.iwae_under(x[i : i + size], k, log_pz, *labels).sum(dtype=torch.float64))
        out["elbo" if k == 1 else iwae_key(k).lstrip("-")] = total / len(x)
    return out


def _timed(f):
    t0 = time.perf_counter()
    value = f()
    return value, time.perf_counter() - t0


def latent_prior_protocol(model, data, config) -> dict:
    """The protocol (module docstring): sections "prior" and "normal" side by side, and "times"."""
    g = torch.Generator(device=data.test_x.device).manual_seed(config.train.seed)
    n = min(len(data.test_x), config.eval.n_test or N_CODES, N_CODES)
    picked = torch.randperm(len(data.test_x), generator=torch.Generator().manual_seed(config.train.seed))[:n]
    x = data.view(data.test_x[picked.to(data.test_x.device)])
    if config.data.binarize != "none":
        x = binarize(x, torch.Generator(device=x.device).manual_seed(config.eval.test_binarize_seed))
    y = data.test_y[picked.to(data.test_y.device)] if isinstance(model, ConditionalFittedPrior) else None
    labels = () if y is None else (y,)  # a prior per label: codes, draws and bounds given the test labels
    codes = model.encode_draw(x, *labels)  # (n, Z)
    normal = StandardNormal(codes.shape[-1]).to(codes.device)
    g_normal = torch.Generator(device=codes.device).manual_seed(config.train.seed + 1)  # the same for every prior
    sections = {"normal": latent_distances(normal.sample(n, g_normal), codes)}
    with torch.no_grad():
        if y is None:
            z_prior, sample_s = _timed(lambda: model.sample_z(n, g))
            x_prior, decode_s = _timed(lambda: model.decode(z_prior))
        else:  # z ~ p(z|y) with the labels of the test codes
            z_prior, sample_s = _timed(lambda: model.sample_z_given_y(y, g))
            x_prior, decode_s = _timed(lambda: model.decode_given_y(z_prior, y))
    sections["prior"] = latent_distances(z_prior, codes)
    if model.log_pz(codes[:1], *(lab[:1] for lab in labels)) is not None and model.has_bounds(x, *labels):
        xb, yb = x[:N_BOUND], None if y is None else y[:N_BOUND]
        ks = tuple(k for k in config.eval.iwae_k if k <= 100) or (1,)
        for name, log_pz in (("normal", lambda z, *_: normal.log_prob(z)),
                             ("prior", lambda z, *lab: model.log_pz(z, *lab, k=INNER_K))):
            torch.manual_seed(config.train.seed)  # the same draws z ~ q(z|x) under both priors
            sections[name].update(bounds(model, xb, log_pz, ks, config.eval.chunk, yb))
    sections["times"] = {"fit_s": float(model.fit_s), "sample_z_s": sample_s, "decode_s": decode_s}
    protocol = {"name": "latent_prior", "kind": model.config.kind, "parent": model.config.parent, "n_codes": n,
                "bandwidths": [h * math.sqrt(codes.shape[-1] / 2) for h in BANDWIDTHS], "seed": config.train.seed,
                "inner_k": INNER_K if model.config.kind == "two-stage" else None}
    _image_scores(model, data, config, sections, protocol)
    titles = {"prior": f"the fitted prior ({model.config.kind})", "normal": "N(0, I), the parent's prior",
              "times": "seconds on this device"}
    return {"protocol": protocol, "sections": sections, "section_titles": titles, "reference": None, "checks": []}


def _image_scores(model, data, config, sections: dict, protocol: dict) -> None:
    """FID, IS, precision, recall of the prior's and of N(0, I)'s decoded draws, where a feature classifier exists."""
    from latentlab.evaluation.classifier_metrics import DATASETS, feature_classifier, model_samples, sample_quality

    if data.name not in DATASETS or config.data.image_size or tuple(data.x_shape) != (1, 28, 28):
        return
    dataset = DATASETS[data.name]
    classifier, record = feature_classifier(data, dataset.recipes[config.eval.classifier])
    n_test = config.eval.n_test or len(data.test_x)
    test_x, test_y = data.test_x[:n_test], data.test_y[:n_test]
    for name, sampler in (("prior", model), ("normal", model.parent)):
        if isinstance(model, ConditionalFittedPrior):  # x ~ p(x|y, z) and E[x|y, z] of the same uniform y and z
            drawn = conditional_samples(model, name == "prior", n_test, config.train.seed)
        else:  # x ~ p(x|z) and E[x|z] of the same z
            drawn = model_samples(sampler, n_test, config.train.seed)
        for kind, suffix in (("samples", ""), ("decoder_means", "_means")):
            if kind in drawn:
                q = sample_quality(classifier, drawn[kind], test_x, test_y, seed=config.train.seed)
                sections[name].update({k + suffix: q[k] for k in ("fid", "is", "precision", "recall")})
    protocol["classifier"] = {k: record[k] for k in ("name", "sha256", "test_accuracy")}
    protocol["n_samples"] = n_test


@torch.no_grad()
def conditional_samples(model, per_label: bool, n: int, seed: int, chunk: int = 2_000) -> dict[str, Tensor]:
    """{"samples": x ~ p(x|y, z), "decoder_means": E[x|y, z]} of the same draws, clipped to [0, 1]: labels
    y ~ Uniform{0..Y-1}, then z ~ p(z|y) (`per_label`) or the parent's N(0, I), as the CVAE samples (models/cvae.py)."""
    g = torch.Generator(device=model.fit_s.device).manual_seed(seed)
    drawn = {"samples": [], "decoder_means": []}
    for i in range(0, n, chunk):
        y = torch.randint(model.n_classes, (min(chunk, n - i),), generator=g, device=model.fit_s.device)
        z = model.sample_z_given_y(y, g) if per_label else model.parent.sample_z(len(y), g)
        drawn["samples"].append(model.sample_x_given_yz(y, z, g).clamp(0, 1))
        drawn["decoder_means"].append(model.decode_given_y(z, y).clamp(0, 1))
    return {kind: torch.cat(parts) for kind, parts in drawn.items()}
