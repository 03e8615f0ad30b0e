"""Pouring (Sermanet et al., "Time-Contrastive Networks", ICRA 2018) with the per-frame phase labels of the
frame-wise literature, in the layout CARL's preparation writes (Chen et al., CVPR 2022; the videos from TCC's
release, Dwibedi et al., CVPR 2019)::

    root/train.pkl, root/val.pkl     a pickled list of dicts: `video_file` ("videos/<name>.mp4", relative to
                                     root), `frame_label` (one phase per frame: a LongTensor or a list),
                                     `seq_len`, `name` (and `id`)
    root/videos/<name>.mp4           25 frames/s

The .pkl files are read by a restricted unpickler: lists, dicts, strings, numbers and the tensors of
`frame_label` only (no code runs; anything else is refused with the file named). A listed video that is not
on disk, or an entry without `video_file` / `frame_label`, is skipped and reported in
`DatasetIndex.problems`. Pouring is one action: every item's label is 0.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import ClipItem, DatasetIndex

FRAME_RATE = 25.0
_SPLITS = {"train": "train", "val": "val", "test": "val"}


def _storage_from_bytes(data: bytes):
    return torch.load(io.BytesIO(data), weights_only=True)  # a tensor storage, no code


class _PlainUnpickler(pickle.Unpickler):
    """Containers, numbers, strings and torch tensors (as `torch.save` stores them) only."""

    ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _storage_from_bytes
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refused to load {module}.{name} (only lists, dicts and tensors are read)"
        )


def read_plain_pickle(path: Path) -> object:
    """The list a CARL-style .pkl holds; AnnotationError naming the file otherwise."""
    try:
        with open(path, "rb") as f:
            return _PlainUnpickler(f).load()
    except FileNotFoundError:
        raise AnnotationError(str(path), "missing: a Pouring root has train.pkl and val.pkl") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, RuntimeError) as err:
        raise AnnotationError(str(path), f"not a readable list of videos ({err})") from None


def pouring_items(root: Path, split: str | None) -> DatasetIndex:
    """The Pouring videos of `split` ("train", "val"/"test", None: both), phases in `meta["phase_labels"]`."""
    root = Path(root)
    if split is not None and split not in _SPLITS:
        raise ValueError(f"Pouring splits are train and val (alias test), got {split!r}")
    items, problems = [], []
    for own in ("train", "val"):
        if split is not None and _SPLITS[split] != own:
            continue
        path = root / f"{own}.pkl"
        entries = read_plain_pickle(path)
        if not isinstance(entries, list):
            raise AnnotationError(str(path), f"expected a list of videos, got {type(entries).__name__}")
        for number, entry in enumerate(entries):
            if not isinstance(entry, dict) or "video_file" not in entry or "frame_label" not in entry:
                problems.append(f"{path}: entry {number} has no video_file / frame_label")
                continue
            video = root / str(entry["video_file"])
            if not video.is_file():
                problems.append(f"{path}: entry {number}: {video} is not on disk")
                continue
            labels = np.asarray(
                entry["frame_label"].tolist()
                if hasattr(entry["frame_label"], "tolist")
                else entry["frame_label"]
            ).reshape(-1)
            items.append(
                ClipItem(
                    id=str(entry.get("name", video.stem)),
                    path=str(video),
                    end_s=len(labels) / FRAME_RATE,
                    label=0,
                    video_only=True,
                    meta={
                        "split": own,
                        "frame_rate": FRAME_RATE,
                        "phase_labels": labels.astype(int).tolist(),
                    },
                )
            )
    return DatasetIndex(items, ["pouring"], problems)
