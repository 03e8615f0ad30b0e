"""AVSBench v1 (S4 single-source, MS3 multi-source) as released.

Zhou et al., "Audio-Visual Segmentation", ECCV 2022. `root` is the folder holding the meta csv::

    S4:  root/s4_meta_data.csv   header; columns by position: 0 name, 2 category, and `split`
         root/s4_data/visual_frames/{split}/{category}/{name}/{name}_{1..5}.png   (224×224)
         root/s4_data/audio_wav/{split}/{category}/{name}.wav                       (16 kHz, 5 s)
         root/s4_data/gt_masks/{split}/{category}/{name}/{name}_{k}.png            (train: only k = 1)
    MS3: root/ms3_meta_data.csv  header; column 0 name, and `split`
         root/ms3_data/visual_frames/{name}/{name}.mp4_{1..5}.png                   (no split folder)
         root/ms3_data/audio_wav/{split}/{name}.wav
         root/ms3_data/gt_masks/{split}/{name}/{name}_{1..5}.png

One item per video: 5 frames (one per second), 5 s of audio, and the masks the release has (S4 training
has the first frame's mask only: the semi-supervised setting; `mask_valid` marks which exist).
"""

from __future__ import annotations

import csv
from pathlib import Path

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import ClipItem, DatasetIndex

NUM_FRAMES = 5


def _meta_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if not path.is_file():
        raise AnnotationError(path, "AVSBench meta csv not found")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise AnnotationError(path, "empty meta csv")
    header = [c.strip() for c in rows[0]]
    if "split" not in header:
        raise AnnotationError(path, f"header {header} has no `split` column")
    return header, [(n, r) for n, r in enumerate(rows[1:], start=2) if r]


def avsbench_items(root: str | Path, subset: str = "s4", split: str | None = "train") -> DatasetIndex:
    """Index of the AVSBench `subset` ("s4" or "ms3") videos of `split` ("train", "val", "test", None)."""
    root = Path(root)
    if subset not in ("s4", "ms3"):
        raise ValueError(f"AVSBench subset must be 's4' or 'ms3', got {subset!r}")
    meta = root / f"{subset}_meta_data.csv"
    header, rows = _meta_rows(meta)
    data = root / f"{subset}_data"
    split_col = header.index("split")
    cat_col = header.index("category") if "category" in header else 2
    categories = sorted({r[cat_col] for _, r in rows if len(r) > cat_col}) if subset == "s4" else []
    cat_index = {c: k for k, c in enumerate(categories)}
    items, problems = [], []
    for number, row in rows:
        if len(row) <= max(split_col, cat_col if subset == "s4" else 0):
            problems.append(f"{meta}: row {number}: too few columns: {row}")
            continue
        name, row_split = row[0].strip(), row[split_col].strip()
        if split is not None and row_split != split:
            continue
        if subset == "s4":
            rel = Path(row_split) / row[cat_col] / name
            frames = [data / "visual_frames" / rel / f"{name}_{k}.png" for k in range(1, NUM_FRAMES + 1)]
            wav = data / "audio_wav" / row_split / row[cat_col] / f"{name}.wav"
            mask_dir = data / "gt_masks" / rel
            label = cat_index[row[cat_col]]
        else:
            frames = [data / "visual_frames" / name / f"{name}.mp4_{k}.png" for k in range(1, NUM_FRAMES + 1)]
            wav = data / "audio_wav" / row_split / f"{name}.wav"
            mask_dir = data / "gt_masks" / row_split / name
            label = None
        missing = [str(p) for p in [*frames, wav] if not p.is_file()]
        if missing:
            problems.append(
                f"{meta}: row {number}: {name}: missing {missing[0]}"
                + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            )
            continue
        masks = [mask_dir / f"{name}_{k}.png" for k in range(1, NUM_FRAMES + 1)]
        masks_or_none = [str(m) if m.is_file() else None for m in masks]
        if masks_or_none[0] is None:
            problems.append(f"{meta}: row {number}: {name}: missing {masks[0]}")
            continue
        items.append(
            ClipItem(
                id=name,
                path=str(frames[0].parent),
                kind="frames",
                audio_path=str(wav),
                end_s=5.0,
                label=label,
                frames=[str(p) for p in frames],
                masks=masks_or_none,
                meta={"split": row_split},
            )
        )
    return DatasetIndex(items, categories, problems)
