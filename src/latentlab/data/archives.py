"""Datasets released as one zip archive of image folders: the CycleGAN release (apple2orange, horse2zebra, ...).

`locate_archive(name, root)` returns `root/<folder>` once its subfolders hold the expected
number of files and the files' tree hash matches. A missing folder is downloaded when allowed:
the archive goes to a temp file beside the folder (checked against its own sha256 when one is
published), is unpacked into a temp folder (each member checked against the CRC-32 the zip
holds), the unpacked files are checked, and only then is the folder renamed into place;
whatever fails leaves nothing behind.

The tree hash is the sha256 of the lines "<sha256 of the file>  <relative path>\\n" of every
file, sorted by path, which is `sha256sum` over the folder's files, sorted (`LC_ALL=C sort -k2`),
with paths relative to the dataset folder. Like file stamps, a verified tree is remembered in
the cache directory, keyed by every file's size and mtime.

Only apple2orange's tree hash and counts are known here (measured on the released files). For
the other releases no checksum is published and none was measured, so the first copy seen is
trusted: its tree hash is recorded in the cache directory with one line on stderr that says so,
and every later read of that folder is checked against it (a fresh download records anew).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from latentlab.config import CYCLEGAN_RELEASES
from latentlab.data import cache
from latentlab.data.domains import SPLITS
from latentlab.data.root import ROOT_RULE
from latentlab.data.sources import _fetch, _writable
from latentlab.errors import UserError


@dataclass(frozen=True)
class Archive:
    """A dataset of image folders shipped as `file_name` at each base URL in `urls`.

    Its subfolders are trainA, trainB, testA and testB. `counts` maps each to its number of files
    (empty: not known here, each must hold at least one); `tree_sha256` is the tree hash of the
    unpacked files (module docstring; "": not known here, the first copy seen is recorded);
    `sha256s` are accepted hashes of the archive itself (empty: none is published, the unpacked
    files are checked instead).
    """

    folder: str
    file_name: str
    urls: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)
    tree_sha256: str = ""
    sha256s: tuple[str, ...] = ()


# The CycleGAN datasets' canonical URL (junyanz/pytorch-CycleGAN-and-pix2pix,
# datasets/download_cyclegan_dataset.sh; cityscapes is not served there, ae_photos has no training
# split). No checksum of a zip is published. apple2orange's tree hash and counts are those of the
# released files (995/1019/266/248 JPEGs of 256×256); the others' are recorded on first sight.
CYCLEGAN_URLS = ("https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/",
                 "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/")
ARCHIVES: dict[str, Archive] = {name: Archive(name, f"{name}.zip", CYCLEGAN_URLS) for name in CYCLEGAN_RELEASES}
ARCHIVES["apple2orange"] = Archive(
    "apple2orange", "apple2orange.zip", CYCLEGAN_URLS,
    counts={"trainA": 995, "trainB": 1019, "testA": 266, "testB": 248},
    tree_sha256="2c694a858fa03502753eecfe7b36e249b74bd36877a1e2c00ba27544e528d0d7",
)


def locate_archive(name: str, root: Path, download: bool = True, base_url: str | None = None) -> Path:
    """The folder `root/<folder>` of archive dataset `name`, complete and verified.

    A missing folder is downloaded when `download` is true, from each canonical URL in turn or
    from `base_url` alone. Raises UserError when it cannot be had or does not verify.
    """
    archive = ARCHIVES[name]
    folder = Path(root) / archive.folder
    bases = (base_url.rstrip("/") + "/",) if base_url else archive.urls
    fresh = not folder.exists()
    if fresh:
        reason = _download(archive, folder, bases) if download else "download disabled"
        if not folder.exists():
            urls = " or ".join(base + archive.file_name for base in bases)
            raise UserError(f"dataset {name}: no folder {folder} ({reason}); {ROOT_RULE}; "
                            f"download {urls} and unzip it there")
    _verify_tree(name, archive, folder.resolve(), fresh=fresh)
    return folder


def _files(archive: Archive, folder: Path) -> list[Path]:
    """The dataset's files, sorted by relative path; UserError when a subfolder's count is off (or, where
    the counts are not known, when a subfolder is empty)."""
    named = []  # (relative path, path)
    for sub in SPLITS:
        names = []
        if (folder / sub).is_dir():
            with os.scandir(folder / sub) as entries:
                names = [e.name for e in entries if e.is_file()]
        expected = archive.counts.get(sub)
        if len(names) != expected if expected is not None else not names:
            raise UserError(f"{folder / sub}: {len(names)} files, expected {expected or 'at least one'}; the dataset "
                            f"is incomplete or altered: delete {folder} and run again to download it")
        named += [(f"{sub}/{name}", folder / sub / name) for name in names]
    return [path for _, path in sorted(named)]


def tree_sha256(folder: Path, files: list[Path]) -> str:
    """sha256 of the lines "<sha256>  <path relative to folder>\\n", in the order given."""
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as f:
            file_hash = hashlib.file_digest(f, "sha256").hexdigest()
        digest.update(f"{file_hash}  {path.relative_to(folder).as_posix()}\n".encode())
    return digest.hexdigest()


def _verify_tree(name: str, archive: Archive, folder: Path, *, fresh: bool = False) -> None:
    """Check the files' tree hash against the known one or, where none is known, against the one recorded when
    this folder was first read (`fresh`: just downloaded, so recorded anew); skipped while the cached stamp
    vouches for every file's size and mtime."""
    files = _files(archive, folder)
    key = cache.folder_key(folder)
    stamp = {} if fresh else cache.read_json("verified", key)
    recorded = "" if archive.tree_sha256 else stamp.get("first_seen", "")
    expected = archive.tree_sha256 or recorded
    if expected and stamp.get("tree") == cache.fingerprint(files, {"tree_sha256": expected}):
        return  # hashed before, nothing touched since
    actual = tree_sha256(folder, files)
    if not expected:
        print(f"latentlab: dataset {name}: no checksum of this release is published; the tree sha256 of its "
              f"{len(files)} files, {actual}, is recorded in {cache.entry_path('verified', key)}.json and later "
              "reads of this folder are checked against it", file=sys.stderr)
    elif actual != expected and recorded:
        raise UserError(f"{folder}: the files' tree sha256 is {actual}, but was {recorded} when latentlab first read "
                        f"this folder; a file changed, was added or removed since: delete {folder} and run again")
    elif actual != expected:
        raise UserError(f"{folder}: the files' tree sha256 is {actual}, expected {expected} for dataset {name}; "
                        f"a file is corrupt or another release: delete {folder} and run again")
    stamp = {"tree": cache.fingerprint(files, {"tree_sha256": actual})}
    cache.write_json("verified", key, stamp if archive.tree_sha256 else {"first_seen": actual, **stamp})


def _download(archive: Archive, folder: Path, bases: tuple[str, ...]) -> str:
    """Download, unpack and check into `folder`; returns why it failed, or ''."""
    if not _writable(folder.parent):
        return "the data folder is read-only"
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{archive.folder}.", suffix=".part"))
    except OSError as error:
        return f"cannot create the folder: {error}"
    reason = ""
    try:
        zip_path = work / archive.file_name
        for base in bases:
            try:
                _fetch(base + archive.file_name, zip_path, archive.sha256s)
                break
            except (OSError, http.client.HTTPException, ValueError) as error:
                reason = f"download failed: {base + archive.file_name}: {error}"
        else:
            return reason
        unpacked = _unpack(zip_path, work / "unpacked", archive.folder)
        files = _files(archive, unpacked)
        actual = tree_sha256(unpacked, files) if archive.tree_sha256 else ""  # else: recorded on first sight
        if actual != archive.tree_sha256:
            raise UserError(f"{zip_path.name} from {base}: the unpacked files' tree sha256 is {actual}, expected "
                            f"{archive.tree_sha256}; nothing was written to {folder}: try another mirror")
        os.replace(unpacked, folder)
        return ""
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _unpack(zip_path: Path, dest: Path, top: str) -> Path:
    """Unzip into `dest`, dropping a leading `top/` folder; members with absolute paths or `..` are refused."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for member in zf.infolist():
                parts = PurePosixPath(member.filename).parts
                if member.filename.startswith("/") or ".." in parts:
                    raise UserError(f"{zip_path.name}: unsafe member path {member.filename!r}; refusing to unpack")
                if parts and parts[0] == top:
                    parts = parts[1:]
                if member.is_dir() or not parts or parts[0] == "__MACOSX" or parts[-1].startswith("."):
                    continue
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
    except zipfile.BadZipFile as error:
        raise UserError(f"{zip_path.name}: not a readable zip archive ({error}); try another mirror") from None
    return dest
