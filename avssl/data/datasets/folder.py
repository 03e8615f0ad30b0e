"""A plain folder of videos (any tree), with an optional `labels.csv`: the custom-data path.

Layout::

    root/
      any/sub/dir/clip_a.mp4     (.mp4 .mkv .webm .mov .avi .m4v .ts .m2ts .mts)
      any/sub/dir/clip_a.wav     optional audio sidecar with the same stem: read instead of the
                                 container's audio (exact and much cheaper than AAC)
      labels.csv                 optional: `path,label[,split]` (path relative to root, with or without
                                 suffix; a header row names the columns in any order)

With a `split` column, asking for a split keeps the videos listed with it (a split no row names is an error
naming labels.csv); class indices come from every row, so the splits agree on them. Without one, every
video is in every split (`avssl eval probe` refuses to score such a set against itself). Without labels.csv, a video's label is its top-level sub-folder when every video sits in one (ImageFolder
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


def _columns(row: list[str]) -> dict[str, int] | None:
    """Column positions from a header row (`path`, `label`, `split` in any order), None for a data row."""
    names = [c.strip().lower() for c in row]
    if "path" not in names:
        return None
    return {name: names.index(name) for name in ("path", "label", "split") if name in names}


def _read_labels(path: Path) -> tuple[dict[str, str | None], dict[str, str] | None]:
    """(item id → label name or None, item id → split or None when the file has no split column)."""
    labels: dict[str, str | None] = {}
    splits: dict[str, str] = {}
    columns = {"path": 0, "label": 1, "split": 2}
    with path.open(newline="", encoding="utf-8") as f:
        for row_number, row in enumerate(csv.reader(f), start=1):
            if not row or row[0].startswith("#"):
                continue
            header = _columns(row) if row_number == 1 else None
            if header is not None:
                columns = header
                continue
            cells = {name: row[k].strip() if k < len(row) else "" for name, k in columns.items()}
            if len(row) < 2 or not cells["path"]:
                raise AnnotationError(path, f"row {row_number}: expected `path,label[,split]`, got {row}")
            item_id = str(Path(cells["path"]).with_suffix(""))
            labels[item_id] = cells.get("label") or None
            if cells.get("split"):
                splits[item_id] = cells["split"]
    return labels, (splits or None)


def select_split(ids: list[str], splits: dict[str, str] | None, split: str | None, source: Path) -> set[str]:
    """The ids in `split` (every id when `split` is None or the source has no split column); a split no
    entry names is an AnnotationError naming `source`."""
    if split is None or splits is None:
        return set(ids)
    chosen = {i for i in ids if splits.get(i) == split}
    if not chosen:
        known = ", ".join(sorted(set(splits.values())))
        raise AnnotationError(source, f"no items in split {split!r} (splits listed: {known})")
    return chosen


def folder_items(root: str | Path, split: str | None = None) -> tuple[list[ClipItem], list[str]]:
    """Items of the videos under root in `split` (None: all; see the module doc) and the sorted class
    names (empty when unlabelled)."""
    root = Path(root)
    if not root.is_dir():
        raise AnnotationError(root, "data folder not found")
    videos = find_videos(root)
    if not videos:
        raise AnnotationError(root, f"no video files ({', '.join(VIDEO_SUFFIXES)}) found")
    ids = [str(p.relative_to(root).with_suffix("")) for p in videos]
    label_file = root / "labels.csv"
    splits = None
    if label_file.is_file():
        names, splits = _read_labels(label_file)
    elif all(len(Path(i).parts) > 1 for i in ids):
        names = {i: Path(i).parts[0] for i in ids}
    else:
        names = {}
    classes = sorted({n for n in names.values() if n is not None})
    index = {c: k for k, c in enumerate(classes)}
    keep = select_split(ids, splits, split, label_file)
    items = []
    for video, item_id in zip(videos, ids):
        if item_id not in keep:
            continue
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
