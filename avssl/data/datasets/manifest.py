"""A manifest (CSV with a header, or JSONL) listing clips: `path`, optional `start`, `end`, `label`,
`audio_path`, `id`, `split`. Relative paths are resolved against the manifest's folder. Labels may be names
(mapped to sorted indices) or integers.

CSV example::

    path,start,end,label
    videos/a.mp4,0.0,10.0,dog
    videos/b.mp4,2.5,,cat

With a `split` column, asking for a split keeps its rows (a split no row names is an error naming the
manifest); class indices come from every row, so the splits agree on them. Without one, every row is in
every split (`avssl eval probe` refuses to score such a set against itself).
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


def _in_split(
    parsed: list[tuple[dict, float | None, float | None]], split: str | None, manifest: Path
) -> list:
    """The parsed rows of `split` (all rows when `split` is None or no row has a `split`)."""
    listed = {str(row["split"]) for row, _, _ in parsed if row.get("split") not in (None, "")}
    if split is None or not listed:
        return parsed
    if split not in listed:
        raise AnnotationError(
            manifest, f"no rows in split {split!r} (splits listed: {', '.join(sorted(listed))})"
        )
    return [entry for entry in parsed if str(entry[0].get("split")) == split]


def manifest_items(manifest: str | Path, split: str | None = None) -> tuple[list[ClipItem], list[str]]:
    """Items of a CSV/JSONL manifest in `split` (None: all; see the module doc) and the sorted class names
    of every row (integers keep their values)."""
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
    for row, start, end in _in_split(parsed, split, manifest):
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
