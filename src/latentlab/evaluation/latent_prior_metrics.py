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
def bounds(model, x: Tensor, log_pz, ks: tuple[int, ...], chunk: int) -> dict[str, float]:
    """{"elbo" or "iwae_k": mean bound in nats} of images x under the parent's q(z|x), p(x|z) and `log_pz`."""
    out = {}
    for k in ks:
        total = 0.0
        for xb in x.split(max(1, chunk // k)):
            total += float(model.iwae_under(xb, k, log_pz).sum(dtype=torch.float64))
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
    codes = model.encode_draw(x)  # (n, Z)
    normal = StandardNormal(codes.shape[-1]).to(codes.device)
    g_normal = torch.Generator(device=codes.device).manual_seed(config.train.seed + 1)  # the same for every prior
    sections = {"normal": latent_distances(normal.sample(n, g_normal), codes)}
    with torch.no_grad():
        z_prior, sample_s = _timed(lambda: model.sample_z(n, g))
        x_prior, decode_s = _timed(lambda: model.decode(z_prior))
    sections["prior"] = latent_distances(z_prior, codes)
    if model.log_pz(codes[:1]) is not None and model.has_bounds(x):
        xb, ks = x[:N_BOUND], tuple(k for k in config.eval.iwae_k if k <= 100) or (1,)
        for name, log_pz in (("normal", normal.log_prob), ("prior", lambda z: model.log_pz(z, INNER_K))):
            torch.manual_seed(config.train.seed)  # the same draws z ~ q(z|x) under both priors
            sections[name].update(bounds(model, xb, log_pz, ks, config.eval.chunk))
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
        drawn = model_samples(sampler, n_test, config.train.seed)  # x ~ p(x|z) and E[x|z] of the same z
        for kind, suffix in (("samples", ""), ("decoder_means", "_means")):
            if kind in drawn:
                q = sample_quality(classifier, drawn[kind], test_x, test_y, seed=config.train.seed)
                sections[name].update({k + suffix: q[k] for k in ("fid", "is", "precision", "recall")})
    protocol["classifier"] = {k: record[k] for k in ("name", "sha256", "test_accuracy")}
    protocol["n_samples"] = n_test
