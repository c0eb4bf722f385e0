"""The downloadable datasets: their files, checksums and canonical URLs, and `locate`.

`locate(name, root)` returns `root/<folder>` once every file of the dataset is there and
matches its sha256. A missing file is downloaded (when allowed) through a temp file in the
same folder that is verified before it is renamed into place, so a failed or corrupt
download never leaves a file behind. Verified hashes are remembered in a stamp per folder,
keyed by each file's size and mtime, kept in the cache directory (data/cache.py), never in
the data folder; where the cache cannot be written the files are simply hashed again.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from latentlab.data import cache
from latentlab.data.root import ROOT_RULE
from latentlab.errors import UserError

TIMEOUT_S = 20.0  # per socket operation, not per file


@dataclass(frozen=True)
class Source:
    """One dataset: its folder under the data root, its files and where to get them.

    `files` maps a file name to the sha256 values accepted for it; an empty tuple means no
    published checksum exists and the file is checked by its reader instead. A file's URL
    is a base in `urls` followed by the file name. `hint` is extra advice for the error
    raised when files are missing.
    """

    folder: str
    files: dict[str, tuple[str, ...]]
    urls: tuple[str, ...] = ()
    hint: str = ""


# sha256 of each file as its source distributes it: downloads (_fetch) and local files (_verify) are checked against it.
SOURCES: dict[str, Source] = {
    "mnist": Source(
        folder="mnist",
        files={
            "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",),
            "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",),
            "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",),
            "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",),
        },
        urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    ),
    "fashion_mnist": Source(
        folder="fashion_mnist",
        files={
            "train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",),
            "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",),
            "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",),
            "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",),
        },
        urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ),
    # Gzipped copies of Larochelle & Murray's (2011) .amat files; the originals are served
    # uncompressed, so nothing here can be downloaded as is.
    "binarized_mnist": Source(
        folder="binarized_mnist",
        files={
            "binarized_mnist_train.amat.gz": ("af247bd6075cf9adc4715459dcd5f13eaa99a2c92d8d81379a05da94770b6c0e",),
            "binarized_mnist_valid.amat.gz": ("533b71bc0198f4d73c54ae5fe6c96fc08dc3cf1b3fae24c5521dbc0452507e38",),
            "binarized_mnist_test.amat.gz": ("32a3c54d03504632bf9f131b4a148c7567aa6fc87da017049b044bdc14c2a0f2",),
        },
        hint="the originals are the uncompressed .amat files at "
        "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/ "
        "(binarized_mnist_{train,valid,test}.amat): download them and run `gzip -9 -n` on each",
    ),
    # No published checksum of Roweis' file exists; the shared copy is a rewrite with the
    # same pixels but other bytes (PROVENANCE.md), so its hash cannot check a download.
    "frey_faces": Source(
        folder="frey_faces",
        files={"frey_rawface.mat": ()},
        urls=("https://cs.nyu.edu/~roweis/data/",),
    ),
    # Accepted: the shared copy (a MATLAB re-save) and the copy scikit-learn fetches.
    "olivetti_faces": Source(
        folder="faces",
        files={
            "olivettifaces.mat": (
                "b1988d02c72fe5b8ee82b5ef3bb7982eafc74f1e1ff0ae0ade35061ad0af534d",
                "b612fb967f2dc77c9c62d3e1266e0c73d5fca46a4b8906c18e454d41af987794",
            ),
        },
        urls=("https://cs.nyu.edu/~roweis/data/",),
        hint="scikit-learn's copy is https://ndownloader.figshare.com/files/5976027 "
        "(save it as olivettifaces.mat)",
    ),
    "svhn": Source(
        folder="svhn",
        files={"train_32x32.mat": (), "test_32x32.mat": ()},
        urls=("http://ufldl.stanford.edu/housenumbers/",),
    ),
}


def locate(name: str, root: Path, download: bool = True, base_url: str | None = None) -> Path:
    """The folder `root/<folder>` of dataset `name`, with every file present and verified.

    Missing files are downloaded when `download` is true, from each canonical URL in turn,
    or from `base_url + file name` alone when `base_url` is given (a mirror, or the tests'
    local server). Raises UserError when files cannot be had or fail their checksum.
    """
    if name not in SOURCES:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(SOURCES)}")
    source = SOURCES[name]
    folder = Path(root) / source.folder
    bases = (base_url.rstrip("/") + "/",) if base_url else source.urls
    missing = [file_name for file_name in source.files if not (folder / file_name).is_file()]
    reason = "download disabled"
    if missing and download:
        reason = _download_missing(source, folder, missing, bases)
        missing = [file_name for file_name in missing if not (folder / file_name).is_file()]
    if missing:
        parts = [f"dataset {name}: missing {', '.join(missing)} in {folder} ({reason})", ROOT_RULE]
        parts += [f"download them from {' or '.join(bases)}"] if bases else []
        parts += [source.hint] if source.hint else []
        raise UserError("; ".join(parts))
    _verify(name, source, folder)
    return folder


def _download_missing(source: Source, folder: Path, missing: list[str], bases: tuple[str, ...]) -> str:
    """Fetch each missing file from the first base URL that works; why the last one failed, or ''."""
    if not bases:
        return "no download URL is known"
    if not _writable(folder):
        return "the data folder is read-only"
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create the folder: {error}"
    reason = ""
    try:
        for file_name in missing:
            for base in bases:
                try:
                    _fetch(base + file_name, folder / file_name, source.files[file_name])
                    break
                except (OSError, http.client.HTTPException, ValueError) as error:
                    failure = f"download failed: {base + file_name}: {error}"
            else:
                reason = failure
    finally:
        if created and not any(folder.iterdir()):
            folder.rmdir()  # leave no empty folder behind
    return reason


def _fetch(url: str, dest: Path, sha256s: tuple[str, ...]) -> None:
    """Download `url` to a temp file beside `dest`, check its sha256, then rename it to `dest`."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            expected_size = response.headers.get("Content-Length")
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if expected_size is not None and size != int(expected_size):
            raise OSError(f"connection closed after {size} of {expected_size} bytes")
        actual = digest.hexdigest()
        if sha256s and actual not in sha256s:
            raise UserError(
                f"{url}: downloaded file has sha256 {actual}, expected {' or '.join(sha256s)}; "
                f"it was deleted and nothing was written to {dest}: try another mirror"
            )
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _verify(name: str, source: Source, folder: Path) -> None:
    """Check every file with a known sha256, skipping those the cached stamp vouches for."""
    key = cache.folder_key(folder)
    stamp = cache.read_json("verified", key)
    verified = {}
    for file_name, sha256s in source.files.items():
        if not sha256s:
            continue
        path = folder / file_name
        info = path.stat()
        size_mtime = [info.st_size, info.st_mtime_ns]
        entry = stamp.get(file_name)
        unchanged = isinstance(entry, dict) and entry.get("size_mtime") == size_mtime
        if unchanged and entry.get("sha256") in sha256s:  # hashed before, not touched since
            verified[file_name] = entry
            continue
        with path.open("rb") as f:
            actual = hashlib.file_digest(f, "sha256").hexdigest()
        if actual not in sha256s:
            raise UserError(
                f"{path}: sha256 is {actual}, expected {' or '.join(sha256s)} for dataset {name}; "
                "the file is corrupt or another release: delete it and run again to re-download it"
            )
        verified[file_name] = {"size_mtime": size_mtime, "sha256": actual}
    if verified != stamp:
        cache.write_json("verified", key, verified)


def _writable(path: Path) -> bool:
    """Whether `path` (or its nearest existing parent) may be written. Its mode bits count
    even for root, so a folder marked read-only, like a shared data folder, stays untouched.
    """
    while not path.exists():
        path = path.parent
    return bool(path.stat().st_mode & 0o222) and os.access(path, os.W_OK)
