"""VGG-Sound as released: `vggsound.csv` (no header; `ytid,start_seconds,label,split`; labels with commas
quoted; ids may start with '-') and one clip per row named `{ytid}_{start:06d}.mp4`.

Chen et al., "VGGSound: A Large-scale Audio-Visual Dataset", ICASSP 2020.

Clips are looked for with `pattern` (default: the first of `video/`, `videos/`, `clips/` or the root that
holds the first listed clip); a 16 kHz wav sidecar `audio/{clip_id}.wav` is used when present. Rows whose
clip is missing are skipped and reported in `DatasetIndex.problems`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import ClipItem, DatasetIndex

CANDIDATE_PATTERNS = ("video/{clip_id}.mp4", "videos/{clip_id}.mp4", "clips/{clip_id}.mp4", "{clip_id}.mp4")


def read_vggsound_csv(path: Path) -> list[tuple[int, str, int, str, str]]:
    """Rows (row number, ytid, start, label, split); a malformed row raises AnnotationError naming it."""
    if not path.is_file():
        raise AnnotationError(path, "vggsound.csv not found")
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or (number == 1 and row[0].strip().lower() in ("ytid", "# ytid", "youtube_id")):
                continue
            if len(row) < 4:
                raise AnnotationError(
                    path, f"row {number}: expected ytid,start_seconds,label,split, got {row}"
                )
            try:
                start = int(float(row[1]))
            except ValueError:
                raise AnnotationError(
                    path, f"row {number}: start_seconds {row[1]!r} is not a number"
                ) from None
            rows.append((number, row[0].strip(), start, row[2].strip(), row[3].strip()))
    return rows


def _pattern(root: Path, clip_ids: list[str], pattern: str | None) -> str:
    if pattern is not None:
        return pattern
    for clip_id in clip_ids[:50]:
        for candidate in CANDIDATE_PATTERNS:
            if (root / candidate.format(clip_id=clip_id)).is_file():
                return candidate
    return CANDIDATE_PATTERNS[0]


def vggsound_items(
    root: str | Path, split: str | None = None, pattern: str | None = None, csv_path: str | Path | None = None
) -> DatasetIndex:
    """Index of the clips of `split` ("train", "test" or None = all) that exist on disk."""
    root = Path(root)
    csv_file = Path(csv_path) if csv_path else root / "vggsound.csv"
    rows = read_vggsound_csv(csv_file)
    classes = sorted({label for _, _, _, label, _ in rows})
    index = {c: k for k, c in enumerate(classes)}
    wanted = [r for r in rows if split is None or r[4] == split]
    clip_ids = [f"{ytid}_{start:06d}" for _, ytid, start, _, _ in wanted]
    pattern = _pattern(root, clip_ids, pattern)
    items, problems = [], []
    for (number, _, _, label, row_split), clip_id in zip(wanted, clip_ids):
        video = root / pattern.format(clip_id=clip_id)
        if not video.is_file():
            problems.append(f"{csv_file}: row {number}: clip {clip_id} listed but {video} is missing")
            continue
        sidecar = root / "audio" / f"{clip_id}.wav"
        items.append(
            ClipItem(
                id=clip_id,
                path=str(video),
                audio_path=str(sidecar) if sidecar.is_file() else None,
                label=index[label],
                meta={"split": row_split},
            )
        )
    return DatasetIndex(items, classes, problems)
