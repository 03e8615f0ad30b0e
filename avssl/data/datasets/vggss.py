"""VGG-SS (VGG-Sound Source) localization test set.

Chen et al. (LVS), "Localizing Visual Sounds the Hard Way", CVPR 2021. Layout::

    root/vggss.json        [{"file": "{ytid}_{start:06d}", "class": "...", "bbox": [[x1, y1, x2, y2], ...]}]
                           boxes normalised to [0, 1]
    root/frames/{file}.jpg root/audio/{file}.wav      (or root/video/{file}.mp4: middle of the clip)
    root/vggss_test.csv    optional: one id per line, restricts and orders the items

The public json has about a dozen entries with absurd coordinates (≈ −2.9e16): such entries (any
coordinate non-finite or outside [−1, 2]) are skipped and reported. Boxes are kept normalised
(`box_space` = (1, 1)); the evaluation builds the exact int(224·max(v, 0)) map.
"""

from __future__ import annotations

import math
from pathlib import Path

from avssl.data.annotations import AnnotationError, read_json
from avssl.data.datasets.base import ClipItem, DatasetIndex


def _entry_boxes(entry, number: int, path: Path) -> list[list[float]]:
    if not isinstance(entry, dict) or "file" not in entry or "bbox" not in entry:
        raise AnnotationError(path, f"entry {number}: expected an object with `file` and `bbox`")
    boxes = entry["bbox"]
    if (
        not isinstance(boxes, list)
        or not boxes
        or not all(isinstance(b, list) and len(b) == 4 for b in boxes)
    ):
        raise AnnotationError(
            path, f"entry {number} ({entry['file']}): `bbox` must be a list of [x1, y1, x2, y2]"
        )
    for box in boxes:
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and -1.0 <= v <= 2.0 for v in box):
            raise AnnotationError(path, f"entry {number} ({entry['file']}): absurd box coordinates {box}")
    return [[float(v) for v in b] for b in boxes]


def vggss_items(root: str | Path, json_path: str | Path | None = None) -> DatasetIndex:
    """Index of the VGG-SS entries with readable boxes and media; problems list what was skipped."""
    root = Path(root)
    json_file = Path(json_path) if json_path else root / "vggss.json"
    entries = read_json(json_file)
    if not isinstance(entries, list):
        raise AnnotationError(json_file, "expected a JSON list of entries")
    order = None
    test_list = root / "vggss_test.csv"
    if test_list.is_file():
        order = [line.strip().split(",")[0] for line in test_list.read_text().splitlines() if line.strip()]
    classes = sorted({str(e.get("class")) for e in entries if isinstance(e, dict) and e.get("class")})
    index = {c: k for k, c in enumerate(classes)}
    by_id, problems = {}, []
    for number, entry in enumerate(entries, start=1):
        try:
            boxes = _entry_boxes(entry, number, json_file)
        except AnnotationError as err:
            problems.append(str(err))
            continue
        by_id[str(entry["file"])] = (boxes, entry.get("class"))
    items = []
    for item_id in order if order is not None else list(by_id):
        if item_id not in by_id:
            continue
        boxes, cls = by_id[item_id]
        image, audio, video = (
            root / "frames" / f"{item_id}.jpg",
            root / "audio" / f"{item_id}.wav",
            root / "video" / f"{item_id}.mp4",
        )
        label = index.get(str(cls))
        if image.is_file() and audio.is_file():
            items.append(
                ClipItem(
                    id=item_id,
                    path=str(image),
                    kind="still",
                    audio_path=str(audio),
                    label=label,
                    boxes=boxes,
                    box_space=(1, 1),
                )
            )
        elif video.is_file():
            items.append(ClipItem(id=item_id, path=str(video), label=label, boxes=boxes, box_space=(1, 1)))
        else:
            problems.append(f"{json_file}: {item_id}: missing {image} + {audio} (or {video})")
    return DatasetIndex(items, classes, problems)
