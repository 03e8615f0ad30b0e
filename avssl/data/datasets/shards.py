"""WebDataset tar shards: write any dataset index into shards, stream them back.

Shards follow the conventions of the `webdataset` library (Aizman, Maltby, Breuel, "High Performance I/O
For Large Scale Deep Learning", IEEE Big Data 2019), which reads and writes them here (`TarWriter`,
`tarfile_samples`, `gopen`): a shard is a plain tar whose members are grouped by key (the path up to the
first dot of the file name), one group per item, in order: `{key}.json` (id, index, label, kind, window, boxes, …) plus the item's media —
`{key}.mp4` (and `{key}.wav` when the item had a sidecar), `{key}.jpg` + `{key}.wav` for stills, or
`{key}.frame{k}.png` / `{key}.mask{k}.png` + `{key}.wav` for frame folders. `shards.json` in the folder
lists the shards, their item counts and the class names.

A shard source (`data.root` with `data.layout: shards`) is that folder, or what `webdataset` accepts: a
brace pattern (`/data/shard-{000000..000099}.tar`), several joined by `::`, `pipe:COMMAND` (streaming
from any store, e.g. `pipe:aws s3 cp s3://b/shard-000001.tar -`) and http(s) URLs. Shards written by
others (`webdataset.TarWriter`) are read too: a group's media by suffix, `json` (`label`, `id`, …) and
`cls` (an integer label) when present; the item's window defaults to the whole clip.

`ShardDataset` streams shards without unpacking them: shards are shuffled per (seed, epoch) identically on
every process and dealt round-robin to the (rank, worker) slots, so across all ranks and workers every
item is read exactly once per epoch; `shuffle_buffer` > 0 then shuffles each slot's stream through a buffer
of that many items (drawn from (seed, epoch, rank, worker)), as webdataset's `shuffle` does. Items go through the same `ClipDataset` loading, transforms and
bad-item policy as folders (media are decoded from memory).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info
from webdataset import TarWriter
from webdataset.shardlists import expand_urls
from webdataset.tariterators import tarfile_samples

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import BadItem, ClipDataset, ClipItem, ClipSpec, ClipView, DatasetIndex
from avssl.data.decoding import MediaError, MemoryFile, probe

_SUFFIX_KEYS = ("mp4", "mkv", "webm", "mov", "avi", "m4v", "jpg", "jpeg", "png", "wav", "flac")


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
        with TarWriter(str(tmp), encoder=False, mtime=0) as tar:
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
                members = {name[len(key) + 1 :]: data for name, data in _members(key, item)}
                tar.write({"__key__": key, "json": json.dumps(record).encode(), **members})
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


def shard_source(root: str | Path) -> tuple[list[str], dict]:
    """(shard URLs, summary) of a shard source: a folder with `shards.json` (its summary), else the URLs
    webdataset expands from a brace pattern / `::` list / `pipe:` / http(s) source (summary empty)."""
    folder = Path(str(root))
    if (folder / "shards.json").is_file():
        summary = json.loads((folder / "shards.json").read_text())
        return [str(folder / name) for name in summary["shards"]], summary
    urls = expand_urls(str(root))
    local = [u for u in urls if "://" not in u and not u.startswith("pipe:")]
    missing = [u for u in local if not Path(u).is_file()]
    if missing:
        raise AnnotationError(missing[0], f"shard not found ({len(missing)} of {len(urls)} shards missing)")
    return urls, {}


def _groups(url: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {suffix: bytes}) per item of a shard (a path or any URL webdataset opens), streamed in order."""
    for sample in tarfile_samples([{"url": url}]):
        yield sample["__key__"], {k: v for k, v in sample.items() if not k.startswith("__")}


def _item_from_group(shard: str, key: str, group: dict[str, bytes]) -> tuple[ClipItem, int]:
    """The item of one shard entry and its index (ours: the writer's; others': from the key)."""
    record = json.loads(group["json"]) if "json" in group else {}
    if not isinstance(record, dict):
        record = {}
    label = record.get("label")
    if label is None and "cls" in group:
        label = int(group["cls"].decode().strip())

    def memory(suffix: str) -> MemoryFile:
        return MemoryFile(group[suffix], f"{shard}:{key}.{suffix}")

    kind = record.get("kind", "video")
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
    item = ClipItem(
        id=str(record.get("id", key)),
        path=path,
        kind=kind,
        start_s=float(record.get("start_s", 0.0)),
        end_s=record.get("end_s"),
        audio_path=audio,
        label=label if isinstance(label, int) else None,
        frames=frames,
        masks=masks,
        boxes=record.get("boxes"),
        box_space=tuple(record["box_space"]) if record.get("box_space") else None,
        meta=record.get("meta") or {},
    )
    index = record.get("index")
    return item, int(index) if isinstance(index, int) else zlib.crc32(f"{shard}:{key}".encode()) & 0x7FFFFFFF


def shard_entries(root: str | Path) -> Iterator[tuple[str, str, ClipItem | Exception]]:
    """(shard, key, item or the error that kept the entry from being one) of every entry of a source."""
    for shard in shard_source(root)[0]:
        for key, group in _groups(shard):
            try:
                yield shard, key, _item_from_group(shard, key, group)[0]
            except (KeyError, StopIteration, ValueError) as err:
                yield shard, key, err


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
        shuffle_buffer: int = 0,
    ):
        self.root = str(root)
        self.shards, summary = shard_source(root)
        self.classes = summary.get("classes", [])
        self.num_items = summary.get("num_items")  # None: unknown until streamed (a pattern or URLs)
        self.loader = ClipDataset([], spec, transform, mode, seed, views)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.shuffle_buffer = shuffle_buffer

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def _slot(self) -> tuple[int, int]:
        """(this (rank, worker)'s slot, number of slots)."""
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return self.rank * workers + worker, self.world_size * workers

    def my_shards(self) -> list[str]:
        """This (rank, worker)'s shards: shuffled per (seed, epoch), dealt round-robin over all slots."""
        order = np.random.default_rng([self.seed, self.loader.epoch]).permutation(len(self.shards))
        slot, slots = self._slot()
        return [self.shards[i] for i in order[slot::slots]]

    def _entries(self) -> Iterator[tuple[str, str, dict[str, bytes]]]:
        """(shard, key, group) of this slot's shards, through the shuffle buffer when there is one."""
        entries = ((shard, key, group) for shard in self.my_shards() for key, group in _groups(shard))
        if self.shuffle_buffer <= 1:
            return entries
        rng = np.random.default_rng([self.seed, self.loader.epoch, self._slot()[0], 0x5F])
        return shuffled(entries, self.shuffle_buffer, rng)

    def __iter__(self) -> Iterator[dict | BadItem]:
        """Samples of this rank's and worker's shards. Training: a bad entry is skipped and handed on with
        the next good sample (`skipped`, counted by collate), so batches stay full."""
        skipped: list[BadItem] = []
        for shard, key, group in self._entries():
            try:
                item, index = _item_from_group(shard, key, group)
            except (KeyError, StopIteration, ValueError) as err:
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


def shuffled(entries: Iterable, size: int, rng: np.random.Generator) -> Iterator:
    """`entries` in a shuffled order: a buffer of `size` is filled, then each new entry takes the place of
    a uniformly drawn one, which is yielded; the rest come out in random order at the end. Every entry
    once; memory `size` entries."""
    buffer: list = []
    for entry in entries:
        if len(buffer) < size:
            buffer.append(entry)
            continue
        k = int(rng.integers(size))
        buffer[k], entry = entry, buffer[k]
        yield entry
    rng.shuffle(buffer)
    yield from buffer
