"""Action-recognition benchmarks as downloaded: UCF101, HMDB51, Kinetics-400/600/700 and Diving48.

One item per listed video, label 0-based, `meta["split"]` the split it was listed in. UCF101 and HMDB51
ship three official train/test splits; `split_index` (1, 2 or 3) picks one. `split=None` lists every video
the release's split files name (UCF101 / HMDB51: the union of the three splits' train and test videos).

UCF101 (Soomro et al., "UCF101: A Dataset of 101 Human Actions Classes From Videos in The Wild",
CRCV-TR-12-01, 2012)::

    root/UCF-101/<Class>/v_<Class>_gXX_cYY.avi
    root/ucfTrainTestlist/classInd.txt         `<index 1-based> <Class>`
    root/ucfTrainTestlist/trainlist0{1,2,3}.txt  `<Class>/v_<Class>_gXX_cYY.avi <label 1-based>`
    root/ucfTrainTestlist/testlist0{1,2,3}.txt   `<Class>/v_<Class>_gXX_cYY.avi` (no label: from the folder)

  Lines may end in CRLF (the release does). A listed path whose case differs from the folder on disk
  (the release lists `HandstandPushups/v_HandStandPushups_…` in a folder of that name) is found by a
  case-insensitive match.

HMDB51 (Kuehne et al., "HMDB: A Large Video Database for Human Motion Recognition", ICCV 2011)::

    root/<class>/<name>.avi
    root/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt   `<name>.avi <0|1|2>`

  1 = train, 2 = test, 0 = in neither (never read). Classes: the split files' class names, sorted.

Kinetics (Kay et al., "The Kinetics Human Action Video Dataset", 2017; Carreira et al., "A Short Note
about Kinetics-600", 2018)::

    root/{train,validate,val,test}.csv (or kinetics_<split>.csv; also under root/annotations/)
        header `label,youtube_id,time_start,time_end,split` (a test csv without labels has no `label`)
    root/<split>/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4
        (<label> as written in the csv or with spaces as underscores; also flat root/<split>/<file>)

  Splits are named as in the csv's `split` column: "train", "val" (alias "validate"), "test".

Diving48 (Li et al., "RESOUND: Towards Action Recognition without Representation Bias", ECCV 2018)::

    root/Diving48_V2_{train,test}.json   list of {"vid_name", "label" (0-based), "start_frame", "end_frame"}
    root/rgb/<vid_name>.mp4              (also root/videos/ or the root)
    root/Diving48_vocab.json             optional: per class its list of sub-labels (class names)

A missing split file or a malformed line raises `AnnotationError` naming the file (and line); a listed
video that is not on disk is skipped and reported in `DatasetIndex.problems` (file, line, video).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import ClipItem, DatasetIndex

SPLIT_INDICES = (1, 2, 3)


def check_split_index(split_index: int) -> int:
    if split_index not in SPLIT_INDICES:
        raise ValueError(f"split_index must be 1, 2 or 3 (the official splits), got {split_index!r}")
    return int(split_index)


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty stripped lines with their 1-based numbers; a missing file raises naming it."""
    if not path.is_file():
        raise AnnotationError(path, "split file not found")
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


class _CaseInsensitive:
    """Finds `root/rel` on disk, exactly or with a different case of its parts (UCF101's list quirk)."""

    def __init__(self, root: Path):
        self.root = root
        self.listing: dict[Path, dict[str, str]] = {}

    def find(self, rel: str) -> Path | None:
        exact = self.root / rel
        if exact.is_file():
            return exact
        current = self.root
        for part in Path(rel).parts:
            if current not in self.listing:
                names = [p.name for p in current.iterdir()] if current.is_dir() else []
                self.listing[current] = {n.lower(): n for n in names}
            name = self.listing[current].get(part.lower())
            if name is None:
                return None
            current = current / name
        return current if current.is_file() else None


def _check_split(split: str | None, known: tuple[str, ...], layout: str) -> None:
    if split is not None and split not in known:
        raise ValueError(f"{layout} has splits {', '.join(known)}; got {split!r}")


def ucf101_items(root: str | Path, split: str | None = "train", split_index: int = 1) -> DatasetIndex:
    """UCF101 videos of `split` ("train", "test", None = both) of official split `split_index`."""
    root, split_index = Path(root), check_split_index(split_index)
    _check_split(split, ("train", "test"), "UCF101")
    lists = root / "ucfTrainTestlist"
    class_file = lists / "classInd.txt"
    classes_by_number: dict[int, str] = {}
    for number, line in _lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(class_file, f"line {number}: expected `<index> <Class>`, got {line!r}")
        classes_by_number[int(parts[0])] = parts[1]
    if sorted(classes_by_number) != list(range(1, len(classes_by_number) + 1)):
        raise AnnotationError(class_file, "class indices are not 1..N")
    classes = [classes_by_number[k] for k in range(1, len(classes_by_number) + 1)]
    by_name = {c.lower(): k for k, c in enumerate(classes)}
    indices = SPLIT_INDICES if split is None else (split_index,)
    splits = ("train", "test") if split is None else (split,)
    videos = _CaseInsensitive(root / "UCF-101")
    items, problems, seen = [], [], set()
    for k in indices:
        for name in splits:
            list_file = lists / f"{name}list{k:02d}.txt"
            for number, line in _lines(list_file):
                parts = line.split()
                rel = parts[0].replace("\\", "/")
                folder = rel.split("/")[0].lower()
                if len(parts) > 2 or "/" not in rel or folder not in by_name:
                    raise AnnotationError(
                        list_file, f"line {number}: expected `<Class>/<video>.avi[ <label>]`, got {line!r}"
                    )
                label = by_name[folder]
                if len(parts) == 2 and (not parts[1].isdigit() or int(parts[1]) - 1 != label):
                    raise AnnotationError(
                        list_file,
                        f"line {number}: label {parts[1]!r} is not the index of class {classes[label]!r} "
                        f"in {class_file.name}",
                    )
                item_id = str(Path(rel).with_suffix(""))
                if item_id.lower() in seen:
                    continue
                seen.add(item_id.lower())
                path = videos.find(rel)
                if path is None:
                    problems.append(f"{list_file}: line {number}: video {root / 'UCF-101' / rel} is missing")
                    continue
                items.append(
                    ClipItem(video_only=True, id=item_id, path=str(path), label=label, meta={"split": name})
                )
    return DatasetIndex(items, classes, problems)


HMDB_MARKS = {"1": "train", "2": "test"}


def hmdb51_items(root: str | Path, split: str | None = "train", split_index: int = 1) -> DatasetIndex:
    """HMDB51 videos of `split` ("train", "test", None = both) of official split `split_index`."""
    root, split_index = Path(root), check_split_index(split_index)
    _check_split(split, ("train", "test"), "HMDB51")
    lists = root / "testTrainMulti_7030_splits"
    if not lists.is_dir():
        raise AnnotationError(lists, "HMDB51 split folder not found")
    # classes: every <class>_test_split{1,2,3}.txt named; each class must have the split files read
    classes = sorted({p.name.rsplit("_test_split", 1)[0] for p in lists.glob("*_test_split[123].txt")})
    if not classes:
        raise AnnotationError(lists, "no <class>_test_split{1,2,3}.txt split files")
    indices = SPLIT_INDICES if split is None else (split_index,)
    items, problems, seen = [], [], set()
    for k in indices:
        for label, name in enumerate(classes):
            list_file = lists / f"{name}_test_split{k}.txt"
            for number, line in _lines(list_file):
                parts = line.split()
                if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                    raise AnnotationError(
                        list_file, f"line {number}: expected `<video>.avi <0|1|2>`, got {line!r}"
                    )
                which = HMDB_MARKS.get(parts[1])
                if which is None or (split is not None and which != split):
                    continue
                item_id = f"{name}/{Path(parts[0]).stem}"
                if item_id in seen:
                    continue
                seen.add(item_id)
                path = root / name / parts[0]
                if not path.is_file():
                    problems.append(f"{list_file}: line {number}: video {path} is missing")
                    continue
                items.append(
                    ClipItem(video_only=True, id=item_id, path=str(path), label=label, meta={"split": which})
                )
    return DatasetIndex(items, classes, problems)


KINETICS_SPLITS = {"train": "train", "val": "val", "validate": "val", "test": "test"}
KINETICS_COLUMNS = ("youtube_id", "time_start", "time_end", "split")


def _kinetics_csvs(root: Path) -> dict[str, Path]:
    """Split name → its csv (train/validate/val/test.csv, kinetics_<split>.csv; root or annotations/)."""
    found: dict[str, Path] = {}
    for folder in (root, root / "annotations"):
        for stem, split in KINETICS_SPLITS.items():
            for name in (f"{stem}.csv", f"kinetics_{stem}.csv"):
                if split not in found and (folder / name).is_file():
                    found[split] = folder / name
    return found


def _kinetics_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise AnnotationError(path, "empty csv")
    header = [c.strip() for c in rows[0]]
    missing = [c for c in KINETICS_COLUMNS if c not in header]
    if missing:
        raise AnnotationError(
            path, f"header {header} lacks {missing} (expected label,youtube_id,time_start,time_end,split)"
        )
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise AnnotationError(path, f"row {number}: {len(row)} columns, the header has {len(header)}")
        out.append((number, dict(zip(header, (c.strip() for c in row)))))
    return out


def kinetics_items(root: str | Path, split: str | None = "train") -> DatasetIndex:
    """Kinetics-400/600/700 videos of `split` ("train", "val"/"validate", "test", None = every csv)."""
    root = Path(root)
    csvs = _kinetics_csvs(root)
    if split is not None:
        if split not in KINETICS_SPLITS:
            raise ValueError(f"Kinetics has splits train, val (validate), test; got {split!r}")
        split = KINETICS_SPLITS[split]
        if split not in csvs:
            raise AnnotationError(root / f"{split}.csv", f"Kinetics {split} csv not found")
    elif not csvs:
        raise AnnotationError(root / "train.csv", "no Kinetics csv (train/validate/test.csv) found")
    rows = {name: _kinetics_rows(path) for name, path in csvs.items()}
    # class indices from every csv's labels, sorted, so the splits agree on them
    classes = sorted({r["label"] for table in rows.values() for _, r in table if r.get("label")})
    index = {c: k for k, c in enumerate(classes)}
    items, problems = [], []
    for name in [split] if split is not None else list(rows):
        for number, row in rows[name]:
            try:
                start, end = int(float(row["time_start"])), int(float(row["time_end"]))
            except ValueError:
                raise AnnotationError(csvs[name], f"row {number}: times {row} are not numbers") from None
            stem = f"{row['youtube_id']}_{start:06d}_{end:06d}"
            folders = dict.fromkeys([root / row["split"], root / KINETICS_SPLITS.get(row["split"], name)])
            label = row.get("label") or None
            subfolders = [label, label.replace(" ", "_"), ""] if label else [""]
            candidates = [f / sub / f"{stem}.mp4" for f in folders for sub in dict.fromkeys(subfolders)]
            path = next((p for p in candidates if p.is_file()), None)
            if path is None:
                problems.append(f"{csvs[name]}: row {number}: video {candidates[0]} is missing")
                continue
            items.append(
                ClipItem(
                    video_only=True,
                    id=stem,
                    path=str(path),
                    label=index[label] if label else None,
                    meta={"split": name, "youtube_id": row["youtube_id"]},
                )
            )
    return DatasetIndex(items, classes, problems)


DIVING_SPLITS = ("train", "test")


def diving48_items(root: str | Path, split: str | None = "train") -> DatasetIndex:
    """Diving48 (V2 annotations) videos of `split` ("train", "test", None = both)."""
    root = Path(root)
    _check_split(split, DIVING_SPLITS, "Diving48")
    entries = []
    for name in DIVING_SPLITS if split is None else (split,):
        path = root / f"Diving48_V2_{name}.json"
        if not path.is_file():
            raise AnnotationError(path, "Diving48 split file not found")
        try:
            listed = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise AnnotationError(path, f"not JSON: {err}") from None
        if not isinstance(listed, list):
            raise AnnotationError(path, "expected a list of {vid_name, label, start_frame, end_frame}")
        for k, entry in enumerate(listed):
            if (
                not isinstance(entry, dict)
                or "vid_name" not in entry
                or not isinstance(entry.get("label"), int)
            ):
                raise AnnotationError(
                    path, f"entry {k}: expected vid_name and an integer label, got {entry!r}"
                )
            entries.append((path, k, name, entry))
    vocab = root / "Diving48_vocab.json"
    num_classes = max((e["label"] for *_, e in entries), default=-1) + 1
    classes = [str(k) for k in range(num_classes)]
    if vocab.is_file():
        names = json.loads(vocab.read_text(encoding="utf-8"))
        classes = [" / ".join(n) if isinstance(n, list) else str(n) for n in names]
    folders = [root / "rgb", root / "videos", root]
    items, problems = [], []
    for path, k, name, entry in entries:
        vid = str(entry["vid_name"])
        video = next((f / f"{vid}.mp4" for f in folders if (f / f"{vid}.mp4").is_file()), None)
        if video is None:
            problems.append(f"{path}: entry {k}: video {folders[0] / (vid + '.mp4')} is missing")
            continue
        meta = {"split": name, "start_frame": entry.get("start_frame"), "end_frame": entry.get("end_frame")}
        items.append(ClipItem(video_only=True, id=vid, path=str(video), label=int(entry["label"]), meta=meta))
    if classes and any(i.label >= len(classes) for i in items):
        raise AnnotationError(vocab, f"has {len(classes)} classes, fewer than the labels listed")
    return DatasetIndex(items, classes, problems)
