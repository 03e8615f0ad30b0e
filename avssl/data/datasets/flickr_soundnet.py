"""Flickr-SoundNet sound-localization test set as the reference code reads it.

Senocak et al., "Learning to Localize Sound Source in Visual Scenes", CVPR 2018; test protocol of
Chen et al., "Localizing Visual Sounds the Hard Way" (LVS), CVPR 2021. Layout::

    root/frames/{id}.jpg   root/audio/{id}.wav   root/Annotations/{id}.xml
    root/flickr_test.csv   two columns, no header: id, an integer (only the id is used)

Each XML holds one `<bbox>` per annotator (first child a label, then xmin, ymin, xmax, ymax) in a
256×256 image space; boxes are kept in that space (`box_space` = (256, 256)); the exact int(224·v/256)
ground-truth map of the evaluation is built by `avssl.evaluation`. Without a test list, every XML in
Annotations/ is an item.
"""

from __future__ import annotations

import csv
from pathlib import Path

from avssl.data.annotations import AnnotationError, read_xml_boxes
from avssl.data.datasets.base import ClipItem, DatasetIndex

TEST_LISTS = ("flickr_test.csv", "test_flickr.csv", "flickr_test249_in5k.csv", "metadata/flickr_test.csv")
BOX_SPACE = (256, 256)


def _test_ids(root: Path, test_list: str | Path | None) -> tuple[list[str], Path | None]:
    candidates = [Path(test_list)] if test_list else [root / name for name in TEST_LISTS]
    for path in candidates:
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as f:
                return [row[0].strip() for row in csv.reader(f) if row and row[0].strip()], path
    if test_list:
        raise AnnotationError(test_list, "test list not found")
    annotations = root / "Annotations"
    if not annotations.is_dir():
        raise AnnotationError(root, "neither a test list (flickr_test.csv) nor an Annotations/ folder found")
    return sorted(p.stem for p in annotations.glob("*.xml")), None


def flickr_items(root: str | Path, test_list: str | Path | None = None) -> DatasetIndex:
    """Index of the listed test pairs that have an image, a wav and a readable annotation."""
    root = Path(root)
    ids, list_path = _test_ids(root, test_list)
    items, problems = [], []
    for item_id in ids:
        image, audio = root / "frames" / f"{item_id}.jpg", root / "audio" / f"{item_id}.wav"
        missing = [str(p) for p in (image, audio) if not p.is_file()]
        if missing:
            problems.append(f"{list_path or root}: id {item_id}: missing {', '.join(missing)}")
            continue
        try:
            boxes = read_xml_boxes(root / "Annotations" / f"{item_id}.xml")
        except AnnotationError as err:
            problems.append(str(err))
            continue
        items.append(
            ClipItem(
                id=item_id,
                path=str(image),
                kind="still",
                audio_path=str(audio),
                boxes=boxes,
                box_space=BOX_SPACE,
            )
        )
    return DatasetIndex(items, [], problems)
