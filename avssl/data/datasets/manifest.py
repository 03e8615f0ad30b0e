"""A manifest (CSV with a header, or JSONL) listing clips: `path`, optional `start`, `end`, `label`,
`audio_path`, `id`. Relative paths are resolved against the manifest's folder. Labels may be names
(mapped to sorted indices) or integers.

CSV example::

    path,start,end,label
    videos/a.mp4,0.0,10.0,dog
    videos/b.mp4,2.5,,cat
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import ClipItem


def _rows(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise AnnotationError(path, "manifest file not found")
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((n, json.loads(line)))
                except json.JSONDecodeError as err:
                    raise AnnotationError(path, f"line {n}: malformed JSON ({err.msg})") from None
        return rows
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise AnnotationError(path, "CSV manifest needs a header with a `path` column")
        return [(n, row) for n, row in enumerate(reader, start=2)]


def _seconds(value, path: Path, row: int, column: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise AnnotationError(path, f"row {row}: `{column}` = {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise AnnotationError(path, f"row {row}: `{column}` = {value!r} must be a finite, non-negative time")
    return seconds


def manifest_items(manifest: str | Path) -> tuple[list[ClipItem], list[str]]:
    """Items of a CSV/JSONL manifest and the sorted class names (integers keep their values)."""
    manifest = Path(manifest)
    base = manifest.parent
    parsed = []
    for row_number, row in _rows(manifest):
        if not row.get("path"):
            raise AnnotationError(manifest, f"row {row_number}: empty `path`")
        start = _seconds(row.get("start"), manifest, row_number, "start")
        end = _seconds(row.get("end"), manifest, row_number, "end")
        if start is not None and end is not None and end <= start:
            raise AnnotationError(manifest, f"row {row_number}: end {end} is not after start {start}")
        parsed.append((row, start, end))
    raw_labels = [r.get("label") for r, _, _ in parsed if r.get("label") not in (None, "")]
    numeric = all(isinstance(v, int) or str(v).lstrip("-").isdigit() for v in raw_labels)
    classes = [] if numeric else sorted({str(v) for v in raw_labels})
    index = {c: k for k, c in enumerate(classes)}
    items = []
    for row, start, end in parsed:
        label = row.get("label")
        if label in (None, ""):
            label_index = None
        else:
            label_index = int(label) if numeric else index[str(label)]
        audio = row.get("audio_path") or None
        items.append(
            ClipItem(
                id=str(row.get("id") or Path(row["path"]).with_suffix("")),
                path=str(base / row["path"]),
                start_s=start or 0.0,
                end_s=end,
                audio_path=str(base / audio) if audio else None,
                label=label_index,
            )
        )
    return items, classes
