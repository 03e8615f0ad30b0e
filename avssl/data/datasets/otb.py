"""OTB (Wu, Lim & Yang, "Object Tracking Benchmark", TPAMI 2015) sequences as released: one folder per
sequence with its frames and one box per frame::

    root/<Sequence>/img/0001.jpg, 0002.jpg, …
    root/<Sequence>/groundtruth_rect.txt      one line per frame: x,y,w,h (top-left corner and size in
                                              pixels; separated by commas, tabs or spaces)

A sequence with several annotated targets ships `groundtruth_rect.1.txt`, `groundtruth_rect.2.txt`, …: each
becomes its own item (`<Sequence>.1`, …). A sequence whose box count differs from its frame count (OTB's
few sequences that start later than their first image, whose offsets live in the benchmark toolkit, not in
the folder), a malformed line, or no frames is skipped and reported in `DatasetIndex.problems`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import ClipItem, DatasetIndex

FRAME_RATE = 30.0


def read_otb_boxes(path: Path) -> np.ndarray:
    """(N, 4) float64 x, y, w, h of a groundtruth_rect file; AnnotationError naming the file and line."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = [p for p in re.split(r"[,\s]+", line.strip()) if p]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise AnnotationError(
                str(path), f"line {number}: expected x,y,w,h numbers, got {line!r}"
            ) from None
        if len(values) != 4:
            raise AnnotationError(
                str(path), f"line {number}: expected 4 numbers (x,y,w,h), got {len(values)}"
            )
        rows.append(values)
    if not rows:
        raise AnnotationError(str(path), "no boxes")
    return np.array(rows, dtype=np.float64)


def otb_items(root: Path) -> DatasetIndex:
    """One item per annotated target: kind "frames" (silent, at `FRAME_RATE`), `meta["track_boxes"]`: one
    [x0, y0, x1, y1] box per frame (pixels), `meta["sequence"]`."""
    root = Path(root)
    if not root.is_dir():
        raise AnnotationError(str(root), "not a folder of OTB sequences")
    items, problems = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        frames = sorted((folder / "img").glob("*.jpg"))
        files = sorted(folder.glob("groundtruth_rect*.txt"))
        if not files:
            continue  # not a sequence folder
        if not frames:
            problems.append(f"{folder / 'img'}: no .jpg frames")
            continue
        for gt in files:
            suffix = gt.name[len("groundtruth_rect") : -len(".txt")]
            try:
                boxes = read_otb_boxes(gt)
            except AnnotationError as err:
                problems.append(str(err))
                continue
            if len(boxes) != len(frames):
                problems.append(
                    f"{gt}: {len(boxes)} boxes for {len(frames)} frames (start offsets are not read)"
                )
                continue
            xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
            items.append(
                ClipItem(
                    id=folder.name + suffix,
                    path=str(folder),
                    kind="frames",
                    end_s=len(frames) / FRAME_RATE,
                    frames=[str(f) for f in frames],
                    video_only=True,
                    meta={
                        "sequence": folder.name,
                        "frame_rate": FRAME_RATE,
                        "groundtruth": str(gt),
                        "track_boxes": xyxy.tolist(),
                    },
                )
            )
    return DatasetIndex(items, [], problems)
