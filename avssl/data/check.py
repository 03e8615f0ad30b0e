"""`avssl check-data`: validate a dataset as downloaded, before a long run finds out.

For every item of the layout's index: the files exist; media decode at the start and at the end (which
finds truncated files whose header looks fine); video files have the audio stream the layout needs; clips
are at least as long as asked; boxes are finite and inside the image; masks are readable and match their
frame's size. Every problem names the file and the decoder's or parser's reason; problems are counted per
kind. Nothing is modified.
"""

from __future__ import annotations

import math
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from avssl.data.annotations import AnnotationError
from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipItem, DatasetIndex
from avssl.data.decoding import MediaError, probe, read_audio, read_clip, read_image, read_masks

PROBLEM_KINDS = (
    "index",
    "missing file",
    "undecodable media",
    "no audio stream",
    "no video stream",
    "too short",
    "corrupt boxes",
    "corrupt masks",
)


def _classify(err: MediaError) -> str:
    if err.problem == "file not found":
        return "missing file"
    if "no audio stream" in err.problem:
        return "no audio stream"
    if "no video stream" in err.problem:
        return "no video stream"
    return "undecodable media"


def _check_video(item: ClipItem, min_duration_s: float) -> list[tuple[str, str]]:
    info = probe(item.path)
    problems = []
    if not info["has_video"]:
        return [("no video stream", f"{item.path}: has no video stream")]
    if item.audio_path is None and not info["has_audio"] and not item.video_only:
        problems.append(("no audio stream", f"{item.path}: has no audio stream"))
    duration = info.get("duration_s") or 0.0
    if duration < min_duration_s - 1e-3:
        problems.append(
            ("too short", f"{item.path}: {duration:.2f} s, shorter than the {min_duration_s:.2f} s asked")
        )
    if item.audio_path is not None:
        _check_audio(item.audio_path)
    # decode at the start and just before the declared end: a truncated file fails the second read
    for start in (0.0, max(0.0, duration - 0.3)):
        read_clip(
            item.path,
            start,
            0.2,
            fps=5,
            size=(32, 32),
            sample_rate=16000
            if info["has_audio"] and item.audio_path is None and not item.video_only
            else None,
        )
    return problems


def _check_audio(path: str) -> None:
    """Probe (finds truncated wavs) and decode the start of an audio file."""
    probe(path)
    read_audio(path, 0.0, 0.1)


def _check_boxes(item: ClipItem, image_size: tuple[int, int]) -> list[tuple[str, str]]:
    width, height = item.box_space or image_size
    for box in item.boxes or []:
        finite = all(math.isfinite(v) for v in box)
        if (
            not finite
            or box[2] <= box[0]
            or box[3] <= box[1]
            or min(box) < 0
            or box[2] > width
            or box[3] > height
        ):
            return [("corrupt boxes", f"{item.path}: box {box} is not inside a {width}x{height} image")]
    return []


def _check_item(item: ClipItem, min_duration_s: float) -> list[tuple[str, str]]:
    try:
        if item.kind == "video":
            return _check_video(item, min_duration_s)
        if item.kind == "still":
            image = read_image(item.path)
            _check_audio(item.audio_path)
            return _check_boxes(item, (image.shape[1], image.shape[0]))
        frames = [read_image(p) for p in item.frames or []]
        sizes = {tuple(f.shape[:2]) for f in frames}
        if len(sizes) > 1:
            return [("undecodable media", f"{item.path}: frames have different sizes {sorted(sizes)}")]
        if item.video_only:  # a silent frame-folder video (Penn Action): its phase labels, if any
            if item.meta.get("phases"):
                from avssl.data.datasets.pennaction import read_phases

                read_phases(item.meta["phases"], len(frames))
            return []
        _check_audio(item.audio_path)
        try:
            read_masks(item.masks or [], next(iter(sizes)))
        except MediaError as err:
            return [("corrupt masks", str(err))]
        return []
    except MediaError as err:
        return [(_classify(err), str(err))]
    except AnnotationError as err:
        return [("index", str(err))]


def shard_index(root: str | Path) -> DatasetIndex:
    """The items of a shard source (see `avssl.data.datasets.shards`), media held in memory; entries that
    do not make an item are listed as problems."""
    from avssl.data.datasets.shards import shard_entries

    items, problems = [], []
    for shard, key, entry in shard_entries(root):
        if isinstance(entry, Exception):
            problems.append(f"{shard}:{key}: incomplete shard entry ({entry!r})")
        else:
            items.append(entry)
    return DatasetIndex(items, [], problems)


def check_dataset(root: str | Path, layout: str, min_duration_s: float = 0.0, workers: int = 2) -> dict:
    """Report {"layout", "root", "items", "problems": {kind: [message, …]}, "counts", "ok"}."""
    report: dict = {"layout": layout, "root": str(root), "items": 0}
    problems: dict[str, list[str]] = defaultdict(list)
    try:
        index = shard_index(root) if layout == "shards" else load_index(layout, root)
    except (AnnotationError, MediaError) as err:
        problems["index"].append(str(err))
        index = None
    if index is not None:
        report["items"] = len(index.items) + len(index.problems)
        for message in index.problems:
            problems["missing file" if "missing" in message else "index"].append(message)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for found in pool.map(lambda it: _check_item(it, min_duration_s), index.items):
                for kind, message in found:
                    problems[kind].append(message)
    report["problems"] = dict(problems)
    report["counts"] = {kind: len(v) for kind, v in problems.items()}
    report["ok"] = not problems
    return report


def format_report(report: dict) -> str:
    """Human-readable report: a summary line, then every problem grouped by kind."""
    lines = [
        f"{report['layout']} dataset at {report['root']}: {report['items']} items, "
        + ("no problems" if report["ok"] else f"{sum(report['counts'].values())} problems")
    ]
    for kind, messages in report["problems"].items():
        lines.append(f"  {kind}: {len(messages)}")
        lines.extend(f"    {m}" for m in messages)
    return "\n".join(lines)
