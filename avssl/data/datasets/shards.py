"""WebDataset-compatible tar shards: write any dataset index into shards, stream them back.

A shard is a plain tar whose members are grouped by key (the name up to the first dot), one group per
item, in order: `{key}.json` (id, index, label, kind, window, boxes, …) plus the item's media —
`{key}.mp4` (and `{key}.wav` when the item had a sidecar), `{key}.jpg` + `{key}.wav` for stills, or
`{key}.frame{k}.png` / `{key}.mask{k}.png` + `{key}.wav` for frame folders. `shards.json` in the folder
lists the shards, their item counts and the class names.

`ShardDataset` streams shards without unpacking them: shards are shuffled per (seed, epoch) identically on
every process and dealt round-robin to the (rank, worker) slots, so across all ranks and workers every
item is read exactly once per epoch. Items go through the same `ClipDataset` loading, transforms and
bad-item policy as folders (media are decoded from memory).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from avssl.data.datasets.base import BadItem, ClipDataset, ClipItem, ClipSpec, ClipView, DatasetIndex
from avssl.data.decoding import MediaError, MemoryFile, probe

_SUFFIX_KEYS = ("mp4", "mkv", "webm", "mov", "avi", "m4v", "jpg", "jpeg", "png", "wav", "flac")


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _members(key: str, item: ClipItem) -> list[tuple[str, bytes]]:
    def read(path: str) -> bytes:
        return Path(path).read_bytes()

    out = []
    if item.kind == "frames":
        out += [(f"{key}.frame{k}{Path(p).suffix}", read(p)) for k, p in enumerate(item.frames or [])]
        out += [(f"{key}.mask{k}.png", read(p)) for k, p in enumerate(item.masks or []) if p is not None]
    else:
        out.append((f"{key}{Path(item.path).suffix.lower()}", read(item.path)))
    if item.audio_path is not None:
        out.append((f"{key}{Path(item.audio_path).suffix.lower()}", read(item.audio_path)))
    return out


def _readable(items: list[ClipItem], problems: list[str]) -> list[tuple[ClipItem, float | None]]:
    """Items whose media probe fine, with their duration; the others are reported in `problems`."""
    out = []
    for item in items:
        try:
            end_s = item.end_s
            if end_s is None and item.kind != "frames":
                end_s = probe(item.audio_path if item.kind == "still" else item.path)["duration_s"]
            out.append((item, end_s))
        except MediaError as err:
            problems.append(str(err))
    return out


def write_shards(
    index: DatasetIndex, out: str | Path, items_per_shard: int = 256
) -> tuple[list[Path], list[str]]:
    """Write `index` as tar shards `out/shard-{n:06d}.tar` and `out/shards.json`. Items whose media do not
    probe are left out and reported. Returns the shard paths and the problems."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    items = _readable(index.items, problems)
    shards, counts = [], []
    for start in range(0, len(items), items_per_shard):
        path = out / f"shard-{len(shards):06d}.tar"
        tmp = path.with_suffix(".tar.tmp")
        chunk = items[start : start + items_per_shard]
        with tarfile.open(tmp, "w") as tar:
            for offset, (item, end_s) in enumerate(chunk):
                number = start + offset
                key = f"{number:09d}"
                record = {
                    "id": item.id,
                    "index": number,
                    "label": item.label,
                    "kind": item.kind,
                    "start_s": item.start_s,
                    "end_s": end_s,
                    "boxes": item.boxes,
                    "box_space": item.box_space,
                    "mask_present": [m is not None for m in item.masks] if item.masks is not None else None,
                    "sidecar": item.audio_path is not None and item.kind == "video",
                    "meta": item.meta,
                }
                _add(tar, f"{key}.json", json.dumps(record).encode())
                for name, data in _members(key, item):
                    _add(tar, name, data)
        tmp.replace(path)
        shards.append(path)
        counts.append(len(chunk))
    summary = {
        "shards": [p.name for p in shards],
        "counts": counts,
        "classes": index.classes,
        "num_items": len(items),
    }
    (out / "shards.json").write_text(json.dumps(summary, indent=1))
    return shards, problems


def _groups(path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {suffix: bytes}) per item of a tar shard, streamed in order."""
    key, group = None, {}
    with tarfile.open(path, "r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            name = member.name.rsplit("/", 1)[-1]
            member_key, _, suffix = name.partition(".")
            if member_key != key and key is not None:
                yield key, group
                group = {}
            key = member_key
            group[suffix] = tar.extractfile(member).read()
    if key is not None:
        yield key, group


def _item_from_group(shard: Path, key: str, group: dict[str, bytes]) -> ClipItem:
    record = json.loads(group["json"])

    def memory(suffix: str) -> MemoryFile:
        return MemoryFile(group[suffix], f"{shard}:{key}.{suffix}")

    kind = record["kind"]
    audio = memory("wav") if "wav" in group and (kind != "video" or record.get("sidecar")) else None
    frames = masks = None
    if kind == "frames":
        frame_keys = sorted(
            (s for s in group if s.startswith("frame")), key=lambda s: int(s[5:].split(".")[0])
        )
        frames = [memory(s) for s in frame_keys]
        present = record.get("mask_present") or []
        masks = [memory(f"mask{k}.png") if ok else None for k, ok in enumerate(present)] or None
        path = f"{shard}:{key}"
    else:
        media = next(s for s in group if s in _SUFFIX_KEYS and (s != "wav" or kind != "video"))
        path = memory(media)
    return ClipItem(
        id=record["id"],
        path=path,
        kind=kind,
        start_s=record["start_s"],
        end_s=record["end_s"],
        audio_path=audio,
        label=record["label"],
        frames=frames,
        masks=masks,
        boxes=record["boxes"],
        box_space=tuple(record["box_space"]) if record["box_space"] else None,
        meta=record["meta"],
    )


class ShardDataset(IterableDataset):
    """Streams the items of tar shards through `ClipDataset`'s loading, split across ranks and workers."""

    def __init__(
        self,
        root: str | Path,
        spec: ClipSpec = ClipSpec(),
        transform=None,
        mode: str = "train",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        views: list[ClipView] | None = None,
    ):
        self.root = Path(root)
        summary = json.loads((self.root / "shards.json").read_text())
        self.shards = [self.root / name for name in summary["shards"]]
        self.classes = summary["classes"]
        self.num_items = summary["num_items"]
        self.loader = ClipDataset([], spec, transform, mode, seed, views)
        self.seed, self.rank, self.world_size = seed, rank, world_size

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def my_shards(self) -> list[Path]:
        """This (rank, worker)'s shards: shuffled per (seed, epoch), dealt round-robin over all slots."""
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        order = np.random.default_rng([self.seed, self.loader.epoch]).permutation(len(self.shards))
        slot, slots = self.rank * workers + worker, self.world_size * workers
        return [self.shards[i] for i in order[slot::slots]]

    def __iter__(self) -> Iterator[dict | BadItem]:
        """Samples of this rank's and worker's shards. Training: a bad entry is skipped and handed on with
        the next good sample (`skipped`, counted by collate), so batches stay full."""
        skipped: list[BadItem] = []
        for shard in self.my_shards():
            for key, group in _groups(shard):
                try:
                    item = _item_from_group(shard, key, group)
                    index = json.loads(group["json"])["index"]
                except (KeyError, StopIteration, json.JSONDecodeError) as err:
                    if self.loader.mode != "train":
                        raise
                    skipped.append(
                        BadItem(index=-1, path=f"{shard}:{key}", reason=f"incomplete shard entry ({err!r})")
                    )
                    continue
                sample = self.loader.sample(index, item)
                if isinstance(sample, BadItem):
                    skipped.append(sample)
                    continue
                if skipped:
                    sample["skipped"], skipped = skipped, []
                yield sample
        yield from skipped  # bad entries at the very end: no sample left to carry them
