"""FID and KID on Inception-v3's 2048 pool features, the features published numbers use, added to a protocol
only where the standard weights are already on this machine: nothing is downloaded.

FID   ‖μ_r - μ_g‖² + Tr(Σ_r + Σ_g - 2(Σ_r Σ_g)^½) of the pool features (Heusel et al. 2017, eq. 6)
KID   the unbiased MMD² with the cubic kernel k(a, b) = (aᵀb/d + 1)³ (Bińkowski et al. 2018, §3), mean and sd
      over random subsets of min(50, n) images, as the classifier-based KID of the translation protocol

The network is torchmetrics' own FID Inception (NoTrainInceptionV3, "inception-v3-compat": the TensorFlow
graph of 2015-12-05 as torch-fidelity ports it, images resized to 299 px inside), which needs the package
torch-fidelity and its weights file. torchmetrics would download that file into torch hub's checkpoints
folder ($TORCH_HOME/hub/checkpoints, default ~/.cache/torch/hub/checkpoints) on first use; here the file is
only looked for there, under torch-fidelity's name or pytorch-fid's (the same weights, the same hash), and
used only if its SHA-256 begins with the hash its name carries. Where it is absent, `inception_network`
returns no network and one line that says why, and the protocol goes on without these rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from latentlab.data.batcher import as_float
from latentlab.evaluation.cached_classifier import sha256
from latentlab.evaluation.classifier_metrics import GivenFeatures

HASH = "6726825d"  # the SHA-256 prefix that torch hub checks, part of both file names
WEIGHT_FILES = (f"weights-inception-2015-12-05-{HASH}.pth",  # torch-fidelity's, what torchmetrics' FID loads
                f"pt_inception-2015-12-05-{HASH}.pth")  # pytorch-fid's
FEATURES = 2048  # the pool features of the published FID

# () -> (the network, or None where it cannot be had here; one line saying which, or why not)
Loader = Callable[[], "tuple[nn.Module | None, str]"]


def checkpoints_dir() -> Path:
    """Torch hub's checkpoints folder, where torchmetrics' FID keeps the Inception weights it downloads."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def inception_network() -> tuple[nn.Module | None, str]:
    """torchmetrics' FID Inception-v3 reading the standard weights from checkpoints_dir(), or None and the
    reason: no such file, a file of another hash, or no torch-fidelity. Never downloads."""
    folder = checkpoints_dir()
    found = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not found:
        return None, (f"no Inception FID/KID: the standard Inception weights ({WEIGHT_FILES[0]}) are not in "
                      f"{folder}; put them there (or set TORCH_HOME) and install torch-fidelity to add them")
    path = found[0]
    digest = sha256(path)
    if not digest.startswith(HASH):
        return None, f"no Inception FID/KID: {path} has SHA-256 {digest[:12]}…, not {HASH}…; replace the file"
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3

        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=[str(FEATURES)],
                                 feature_extractor_weights_path=str(path))
    except ModuleNotFoundError:
        return None, (f"no Inception FID/KID: {path} is here but torch-fidelity is not installed "
                      "(pip install torch-fidelity)")
    except Exception as e:  # noqa: BLE001  a third party's file and loader: whatever it raises, the protocol goes on
        return None, f"no Inception FID/KID: {path} could not be read as Inception-v3 ({type(e).__name__}: {e})"
    return net, (f"Inception-v3 pool features ({FEATURES}), torch-fidelity's port, weights {path} "
                 f"(sha256 {digest[:12]}…)")


class InceptionFeatures:
    """Images (N, C, H, W) in [0, 1] -> the network's features (N, d), each distinct set of images read once.

    The network is given uint8 pixels round(down)(255·x), as torchmetrics' FID hands them to its Inception
    with normalize=True; any module taking uint8 images to (N, d) features serves (tests use a small stand-in).
    """

    def __init__(self, network: nn.Module, chunk: int = 32):
        self.network, self.chunk = network.eval(), chunk
        self.seen: list[tuple[Tensor, Tensor]] = []  # (images, their features)

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        for known, features in self.seen:
            if known.shape == images.shape and torch.equal(known, images):
                return features
        self.network.to(images.device)
        features = torch.cat([self.network((as_float(xb) * 255).to(torch.uint8)).double()
                              for xb in images.split(self.chunk)])
        self.seen.append((images, features))
        return features


def feature_distances(features: Tensor, reference: Tensor, *, seed: int = 0, prefix: str = "inception_") -> dict:
    """FID and KID (mean, sd) of features (N, d) against reference features (M, d), by torchmetrics on given
    features; keys prefixed: {"inception_fid", "inception_kid", "inception_kid_sd"}."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    d = features.shape[1]
    fid = FrechetInceptionDistance(feature=GivenFeatures(d)).to(features.device)
    with warnings.catch_warnings():  # "Metric `Kernel Inception Distance` will save all extracted features"
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=GivenFeatures(d), subset_size=min(50, len(features), len(reference)))
        kid = kid.to(features.device)
    for f, real in ((features, False), (reference, True)):
        fid.update(f, real=real)
        kid.update(f, real=real)
    with torch.random.fork_rng(devices=[]):  # KID draws its subsets from the global stream
        torch.manual_seed(seed)
        kid_mean, kid_sd = kid.compute()
    return {f"{prefix}fid": float(fid.compute()), f"{prefix}kid": float(kid_mean), f"{prefix}kid_sd": float(kid_sd)}
