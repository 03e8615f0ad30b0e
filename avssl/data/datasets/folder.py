"""A plain folder of videos (any tree), with an optional `labels.csv`: the custom-data path.

Layout::

    root/
      any/sub/dir/clip_a.mp4     (.mp4 .mkv .webm .mov .avi .m4v .ts .m2ts .mts)
      any/sub/dir/clip_a.wav     optional audio sidecar with the same stem: read instead of the
                                 container's audio (exact and much cheaper than AAC)
      labels.csv                 optional: `path,label` (path relative to root, with or without suffix)

Without labels.csv, a video's label is its top-level sub-folder when every video sits in one (ImageFolder
style), else None. Item ids are paths relative to root without the suffix.
"""

from __future__ import annotations

import csv
from pathlib import Path

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import ClipItem

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".ts", ".m2ts", ".mts")


def find_videos(root: Path) -> list[Path]:
    """All video files under root, sorted (deterministic order)."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def _read_labels(path: Path) -> dict[str, str]:
    labels: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        for row_number, row in enumerate(reader, start=1):
            if not row or row[0].startswith("#"):
                continue
            if row_number == 1 and [c.strip().lower() for c in row[:2]] == ["path", "label"]:
                continue
            if len(row) < 2 or not row[0].strip():
                raise AnnotationError(path, f"row {row_number}: expected `path,label`, got {row}")
            labels[str(Path(row[0].strip()).with_suffix(""))] = row[1].strip()
    return labels


def folder_items(root: str | Path) -> tuple[list[ClipItem], list[str]]:
    """Items of every video under root and the sorted class names (empty when unlabelled)."""
    root = Path(root)
    if not root.is_dir():
        raise AnnotationError(root, "data folder not found")
    videos = find_videos(root)
    if not videos:
        raise AnnotationError(root, f"no video files ({', '.join(VIDEO_SUFFIXES)}) found")
    ids = [str(p.relative_to(root).with_suffix("")) for p in videos]
    label_file = root / "labels.csv"
    if label_file.is_file():
        names = _read_labels(label_file)
    elif all(len(Path(i).parts) > 1 for i in ids):
        names = {i: Path(i).parts[0] for i in ids}
    else:
        names = {}
    classes = sorted(set(names.values()))
    index = {c: k for k, c in enumerate(classes)}
    items = []
    for video, item_id in zip(videos, ids):
        sidecar = video.with_suffix(".wav")
        label = names.get(item_id)
        items.append(
            ClipItem(
                id=item_id,
                path=str(video),
                audio_path=str(sidecar) if sidecar.is_file() else None,
                label=index[label] if label is not None else None,
            )
        )
    return items, classes
