"""Shared fixtures: the data root (real datasets when present) and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def real_data_root() -> Path | None:
    for root in (os.environ.get("LATENTLAB_DATA"), SHARED):
        if root and (Path(root) / "mnist" / "train-images-idx3-ubyte.gz").exists():
            return Path(root)
    return None


@pytest.fixture
def data_root() -> Path:
    root = real_data_root()
    if root is None:
        pytest.skip("MNIST is not on this machine (set LATENTLAB_DATA)")
    return root


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """One cache directory for the session's decoded images and stamps, never the user's own."""
    before = os.environ.get("LATENTLAB_CACHE")
    os.environ["LATENTLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield Path(os.environ["LATENTLAB_CACHE"])
    if before is None:
        os.environ.pop("LATENTLAB_CACHE")
    else:
        os.environ["LATENTLAB_CACHE"] = before


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """One intra-op thread for small tensors: a second OpenMP thread only adds barrier waits
    (seconds per test on a loaded 2-core CPU). Restores the count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- studies at the quick budget

STUDY_DATA = {  # study -> the data file it needs under the data root (None: generated data only)
    "cs236-hw2": "mnist/train-images-idx3-ubyte.gz", "faces": "faces/olivettifaces.mat",
    "faces-frey": "frey_faces/frey_rawface.mat", "elbo-1d": None, "vae-2d": "mnist/train-images-idx3-ubyte.gz",
    "score-2d": None, "gan-theory": None, "gan-mnist": "mnist/train-images-idx3-ubyte.gz",
    "cyclegan": "apple2orange/trainA", "diffusion-mnist": "mnist/train-images-idx3-ubyte.gz",
    "latent-priors": "fashion_mnist/train-images-idx3-ubyte.gz",
}
_QUICK: dict[str, Path] = {}  # study -> its folder, run once per test session


def run_study(name: str, out: Path, *args: str) -> tuple[int, str]:
    """`latentlab study NAME --budget quick --out OUT --quiet [args]` in this process: (exit status, stderr).

    Every run also checkpoints halfway (train.checkpoint_every is not in the math: the saved config stays
    the study's), so a test can cut a run back to an unfinished state; gan-mnist and diffusion-mnist train in
    this process.
    """
    import contextlib
    import dataclasses
    import io

    from latentlab.cli import main
    from latentlab.studies import diffusion_mnist, gan_mnist, latent_priors
    from latentlab.training.trainer import Trainer

    init = Trainer.__init__

    def halfway(self, *a, **k):
        init(self, *a, **k)
        self.cfg = dataclasses.replace(self.cfg, checkpoint_every=min(self.cfg.checkpoint_every,
                                                                      max(1, self.cfg.iterations // 2)))

    root = real_data_root() if STUDY_DATA[name] else None
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err):
        mp.setattr(Trainer, "__init__", halfway)
        mp.setattr(gan_mnist, "parallel_workers", lambda *a: 1)
        mp.setattr(diffusion_mnist, "parallel_workers", lambda *a: 1)
        mp.setattr(latent_priors, "parallel_workers", lambda *a: 1)
        mp.setenv("LATENTLAB_CACHE", str(out.parent / "cache"))  # the quick classifier of gan-mnist stays in tmp
        code = main(["study", name, "--budget", "quick", "--out", str(out), "--quiet",
                     *(["--data-dir", str(root)] if root else []), *args])
    return code, err.getvalue()


@pytest.fixture
def quick_study(tmp_path_factory):
    """name -> the folder of that study run once at the quick budget in this session (skipped without its data)."""
    def get(name: str) -> Path:
        need, root = STUDY_DATA[name], real_data_root()
        if need and (root is None or not (root / need).exists()):
            pytest.skip(f"{need} is not on this machine (set LATENTLAB_DATA)")
        if name not in _QUICK:
            out = tmp_path_factory.mktemp(name) / "study"
            code, err = run_study(name, out)
            assert code == 0, err
            _QUICK[name] = out
        return _QUICK[name]
    return get
