"""Output files that never clobber each other: every JSON / npz result is written atomically (a temp file
beside the target, then `os.replace`, so a reader never sees half a file and a crash leaves the old one),
and per-input output names stay unique when two inputs share a file name."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path (same folder, unique per process) to write; it replaces `path` when the block succeeds
    and is removed when it fails. Parents are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, data: dict, indent: int = 1) -> None:
    """`data` as JSON at `path`, atomically."""
    with atomic_target(path) as tmp:
        tmp.write_text(json.dumps(data, indent=indent) + "\n")


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """`np.savez(path, **arrays)`, atomically (through a file object, so no `.npz` is appended)."""
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def free_path(path: str | os.PathLike) -> Path:
    """`path` when nothing is there, else the first free `stem-2.suffix`, `stem-3.suffix`, …"""
    path = Path(path)
    candidate, k = path, 2
    while candidate.exists():
        candidate, k = path.with_name(f"{path.stem}-{k}{path.suffix}"), k + 1
    return candidate


def path_tag(path: str | os.PathLike) -> str:
    """8 hex digits of the SHA-1 of the resolved path: stable for a file, different for another file."""
    return hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]


SOURCE_MARKER = ".source"


def claim_output_dir(root: str | os.PathLike, source: str | os.PathLike) -> Path:
    """ROOT/<stem of source>, created, for the outputs of the input file `source`; when that folder already
    holds the outputs of another file with the same stem (its `.source` names another resolved path),
    ROOT/<stem>-<path_tag(source)> instead — so `a/clip.mp4` and `b/clip.mp4` never share a folder, and a
    file keeps its folder from run to run. Folders written before the marker existed count as this file's."""
    resolved = str(Path(source).resolve())
    out = Path(root) / Path(source).stem
    marker = out / SOURCE_MARKER
    if marker.is_file() and marker.read_text().strip() != resolved:
        out = Path(root) / f"{Path(source).stem}-{path_tag(source)}"
    out.mkdir(parents=True, exist_ok=True)
    (out / SOURCE_MARKER).write_text(resolved + "\n")
    return out
