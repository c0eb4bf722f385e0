"""What a run's data are, kept in its run.json, so that resuming or evaluating it on data that changed
since is noticed: a folder that gained ten images would otherwise resume without a word, and the
resumed run would no longer be the one an uninterrupted run gives.

`fingerprint(config, data_root, run)` describes the data a config reads:
  folder:      every image file under data.path that the folder reader reads (data/folder.py): its
               name relative to the folder, size and mtime (ns), and a SHA-256 over those lines;
  array:       the .npy/.npz file's size and SHA-256;
  memory:      the size and SHA-256 of the copy the run keeps of arrays given to latentlab.train(data=...);
  a named dataset (mnist, ..., apple2orange, horse2zebra): its files' names and sizes (their contents are checked
               against published or first-seen checksums whenever they are read: data/sources.py, data/archives.py);
  generated 2-D data: the generator's settings.
`changed(recorded, now)` says in one line what differs; `Data.check_unchanged` (data/handoff.py) refuses
a run whose data changed unless the user accepts it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from latentlab.data.archives import ARCHIVES
from latentlab.data.domains import SPLITS, has_domain_layout
from latentlab.data.folder import image_files
from latentlab.data.memory import memory_path
from latentlab.data.sources import SOURCES
from latentlab.errors import UserError

SHOWN = 3  # file names listed per kind of change


def fingerprint(config, data_root: Path, run=None) -> dict:
    """The fingerprint of the data `config.data` names (the module docstring); `run` (a `Run`) keeps the
    arrays of data.name = "memory"."""
    cfg = config.data
    if cfg.name == "folder":
        return _folder(Path(cfg.path).expanduser())
    if cfg.name == "array":
        return _file("array", Path(cfg.path).expanduser())
    if cfg.name == "memory":
        return _file("memory", memory_path(run))
    if cfg.name in SOURCES:
        folder = Path(data_root) / SOURCES[cfg.name].folder
        return _named(cfg.name, folder, [folder / name for name in SOURCES[cfg.name].files])
    if cfg.name in ARCHIVES:
        folder = Path(data_root) / ARCHIVES[cfg.name].folder
        return _named(cfg.name, folder, [p for sub in SPLITS for p in _files_in(folder / sub)])
    return {"source": cfg.name, "n_train": cfg.n_train, "n_test": cfg.n_test, "seed": cfg.seed}  # generated


def _folder(path: Path) -> dict:
    """Every image the folder reader takes (train/ and test/ when both exist, else trainA, trainB, testA, testB when
    any does), by relative name: [size, mtime_ns]."""
    splits = [path / "train", path / "test"] if (path / "train").is_dir() and (path / "test").is_dir() \
        else [path / split for split in SPLITS] if has_domain_layout(path) else [path]
    root = path.resolve()
    files = {}
    for split in splits:
        for file in image_files(split)[0]:
            info = os.stat(file)
            files[file.relative_to(root).as_posix()] = [info.st_size, info.st_mtime_ns]
    digest = hashlib.sha256()
    for name, (size, mtime) in sorted(files.items()):
        digest.update(f"{name}\0{size}\0{mtime}\n".encode())
    return {"source": "folder", "files": files, "sha256": digest.hexdigest()}


def _file(source: str, path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"source": source, "size": path.stat().st_size, "sha256": digest.hexdigest()}


def _named(name: str, folder: Path, files: list[Path]) -> dict:
    return {"source": name, "files": {p.relative_to(folder).as_posix(): p.stat().st_size for p in files if p.is_file()}}


def _files_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_file())


def changed(recorded: dict | None, now: dict) -> str | None:
    """What differs between the fingerprint a run recorded and the data's now, in one line; None when
    nothing does, or when the run recorded none (it was made before fingerprints were kept)."""
    if not recorded or recorded == now:
        return None
    if recorded.get("source") != now.get("source"):
        return f"they were {recorded.get('source')!r} data, now {now.get('source')!r}"
    if "files" in recorded and "files" in now:
        return _file_changes(recorded["files"], now["files"])
    if "sha256" in recorded and "sha256" in now and recorded["sha256"] != now["sha256"]:
        whose = "the kept arrays'" if now["source"] == "memory" else "the array file's"
        return f"{whose} checksum changed (was {recorded['sha256'][:12]}…, now {now['sha256'][:12]}…)"
    differs = sorted(k for k in {*recorded, *now} if recorded.get(k) != now.get(k))
    return "the generator's settings changed: " + ", ".join(f"{k} {recorded.get(k)} -> {now.get(k)}" for k in differs)


def _file_changes(before: dict, after: dict) -> str | None:
    """"3 files added (a.png, b.png, c.png), 1 removed (x.png), 2 modified (y.png, z.png)"."""
    kinds = [("added", sorted(after.keys() - before.keys())), ("removed", sorted(before.keys() - after.keys())),
             ("modified", sorted(k for k in before.keys() & after.keys() if before[k] != after[k]))]
    parts = []
    for what, names in kinds:
        if names:
            listed = ", ".join(names[:SHOWN]) + (", …" if len(names) > SHOWN else "")
            noun = (" file" if len(names) == 1 else " files") if not parts else ""
            parts.append(f"{len(names)}{noun} {what} ({listed})")
    return ", ".join(parts) or None

