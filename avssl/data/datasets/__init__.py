"""Dataset sources, one module per layout, and the `INDEX_LOADERS` registry: layout name → index loader.

Each builder takes `(root, split)` and returns a `DatasetIndex` (items, class names, skipped entries);
`ClipDataset(index.items, spec, transform)` turns it into samples.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from avssl.data.datasets.action import (
    check_split_index,
    diving48_items,
    hmdb51_items,
    kinetics_items,
    ucf101_items,
)
from avssl.data.datasets.avsbench import avsbench_items
from avssl.data.datasets.base import DatasetIndex
from avssl.data.datasets.binaural import fairplay_items
from avssl.data.datasets.flickr_soundnet import flickr_items
from avssl.data.datasets.folder import folder_items
from avssl.data.datasets.manifest import manifest_items
from avssl.data.datasets.otb import otb_items
from avssl.data.datasets.pennaction import pennaction_items
from avssl.data.datasets.pouring import pouring_items
from avssl.data.datasets.vggsound import vggsound_items
from avssl.data.datasets.vggss import vggss_items


def _folder(root: Path, split: str | None) -> DatasetIndex:
    items, classes = folder_items(root, split)
    return DatasetIndex(items, classes)


def _manifest(root: Path, split: str | None) -> DatasetIndex:
    path = (
        root
        if root.is_file()
        else next(
            (root / n for n in ("manifest.csv", "manifest.jsonl") if (root / n).is_file()),
            root / "manifest.csv",
        )
    )
    items, classes = manifest_items(path, split)
    return DatasetIndex(items, classes)


INDEX_LOADERS: dict[str, Callable[[Path, str | None], DatasetIndex]] = {
    "folder": _folder,
    "manifest": _manifest,
    "vggsound": lambda root, split: vggsound_items(root, split),
    "flickr": lambda root, split: flickr_items(root),
    "vggss": lambda root, split: vggss_items(root),
    "avsbench-s4": lambda root, split: avsbench_items(root, "s4", split),
    "avsbench-ms3": lambda root, split: avsbench_items(root, "ms3", split),
    "fairplay": lambda root, split: fairplay_items(root, split),
    "ucf101": lambda root, split: ucf101_items(root, split),
    "hmdb51": lambda root, split: hmdb51_items(root, split),
    "kinetics": lambda root, split: kinetics_items(root, split),
    "diving48": lambda root, split: diving48_items(root, split),
    "pennaction": lambda root, split: pennaction_items(root, split),
    "otb": lambda root, split: otb_items(root),
    "pouring": lambda root, split: pouring_items(root, split),
}
# layouts with official numbered train/test splits: `load_index(..., split_index=k)` picks one
SPLIT_INDEX_LOADERS: dict[str, Callable[[Path, str | None, int], DatasetIndex]] = {
    "ucf101": ucf101_items,
    "hmdb51": hmdb51_items,
}


def load_index(layout: str, root: str | Path, split: str | None = None, split_index: int = 1) -> DatasetIndex:
    """The items of the dataset at `root` in `layout` (split None = every item the layout lists), with
    the classes of a synthetic set (`synthetic_labels`) on the items the layout leaves unlabelled.
    `split_index` (1, 2, 3) picks the official split of a layout that has several (UCF101, HMDB51)."""
    if layout not in INDEX_LOADERS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(INDEX_LOADERS)}")
    check_split_index(split_index)
    if layout in SPLIT_INDEX_LOADERS:
        index = SPLIT_INDEX_LOADERS[layout](Path(root), split, split_index)
    elif split_index != 1:
        raise ValueError(
            f"layout {layout!r} has no numbered official splits (split_index applies to "
            f"{', '.join(SPLIT_INDEX_LOADERS)}), got split_index={split_index}"
        )
    else:
        index = INDEX_LOADERS[layout](Path(root), split)
    return synthetic_labels(index, Path(root))


def synthetic_labels(index: DatasetIndex, root: Path) -> DatasetIndex:
    """Items without a label get their class from `root/synth_gt.json` when `avssl synth` wrote one: the
    layouts without classes (FAIR-Play, the localization and segmentation test sets) keep the synthetic
    scene's class, so probes run on their synthetic versions. Labelled items are left as they are."""
    gt_file = root / "synth_gt.json"
    if not gt_file.is_file() or all(item.label is not None for item in index.items):
        return index
    gt = json.loads(gt_file.read_text())["items"]
    for item in index.items:
        if item.label is None and item.id in gt:
            item.label = int(gt[item.id]["label"])
    return index
