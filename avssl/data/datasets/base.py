"""The clip dataset every source builds on, and the bad-item policy of training runs.

A source module (folder, manifest, vggsound, …) only produces `ClipItem`s; `ClipDataset` turns an item into
a sample dict (batch contract in `avssl.data.types`) through `avssl.data.decoding` and a transform.

Bad items: in `mode="train"` an item that fails to load (`MediaError`, `AnnotationError`) does not raise:
`replace_bad` loads a stand-in drawn from (seed, epoch, index) — so every batch stays full and, under DDP,
every rank keeps the same batch size (equal all-gathers, queue writes, collectives) — and the bad item
travels with it; `collate` lists it under `batch["bad_items"]` (a bad item with no readable stand-in
after a few draws is dropped from the batch instead), and `BadItemTracker` in the training process logs
and counts them and stops the run with a clear error once their share passes `max_bad_fraction`. In
`mode="eval"` a bad item raises: an evaluation must not silently score fewer samples.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch.utils.data import Dataset, default_collate

from avssl.data.annotations import AnnotationError
from avssl.data.decoding import (
    Clip,
    MediaError,
    output_size,
    probe,
    read_audio,
    read_clip,
    read_frame_sequence,
    read_frames,
    read_image_audio,
    read_masks,
)
from avssl.data.sampling import (
    SamplerName,
    ViewCheck,
    ViewTiming,
    check_timing,
    check_view_check,
    clip_starts,
    view_passes,
    view_start,
)

log = logging.getLogger(__name__)

DATA_ERRORS = (MediaError, AnnotationError)


@dataclass(frozen=True)
class ClipSpec:
    """What a sample contains: window length, frame rate and size, audio rate and channels."""

    duration_s: float = 1.0
    fps: float = 8.0
    size: tuple[int, int] | None = (112, 112)
    sample_rate: int = 16000
    channels: int = 1
    sampler: SamplerName = "random"
    video_offset_s: float = 0.0
    short_audio: Literal["pad", "tile"] = "pad"  # audio shorter than the window: zeros, or repeated


def fit_audio(audio: torch.Tensor, valid: int, short_audio: Literal["pad", "tile"]) -> torch.Tensor:
    """A decoded (C, S) window whose first `valid` samples lie inside the file: as decoded (zero padded) for
    "pad"; for "tile" those samples repeated from their start to fill S (the LVS / EZ-VSL / SSL-TIE test code
    tiles audio shorter than its clip). Unchanged when the window is full or holds no sample at all."""
    length = audio.shape[-1]
    if short_audio == "pad" or valid >= length or valid <= 0:
        return audio
    if short_audio != "tile":
        raise ValueError(f"short_audio must be 'pad' or 'tile', got {short_audio!r}")
    copies = -(-length // valid)
    return audio[..., :valid].repeat(1, copies)[..., :length].contiguous()


@dataclass
class ClipView:
    """One view of a multi-view sample: its transform (which sets its output size), where its window lies
    relative to the sample's window (`avssl.data.sampling.ViewTiming`), whether it keeps its audio, and a
    condition its transformed sample must meet (`avssl.data.sampling.ViewCheck`; else its window is drawn
    again)."""

    transform: Any = None
    timing: ViewTiming = field(default_factory=ViewTiming)
    audio: bool = True
    accept: ViewCheck = field(default_factory=ViewCheck)


@dataclass
class ClipItem:
    """One sample's source.

    kind "video": the sampler places the window inside [start_s, end_s) of the video `path` (end None =
    end of the media); audio from `audio_path` (a sidecar) when set, else from the container.
    kind "still": `path` is an image, the audio window is placed inside [start_s, end_s) of `audio_path`.
    kind "frames": `frames` are image files (one per `1 / len(frames)` of the window), audio from `audio_path`;
    with `video_only` they are a silent video's frames at `meta["frame_rate"]` (frames/s; PennAction) and
    the window takes the frames under its sampling times (`read_frame_window`).
    `boxes` ([x0, y0, x1, y1], several annotators allowed) are in pixels of a `box_space` (W, H) image;
    `masks` are mask image paths per frame (None where the release has no mask).
    `video_only`: the layout has no sound to read (action-recognition sets): the video's audio stream,
    if any, is ignored and the sample has no `audio` / `sample_rate`.
    """

    id: str
    path: str
    kind: Literal["video", "still", "frames"] = "video"
    start_s: float = 0.0
    end_s: float | None = None
    audio_path: str | None = None
    label: int | None = None
    frames: list[str] | None = None
    masks: list[str | None] | None = None
    boxes: list[list[float]] | None = None
    box_space: tuple[int, int] | None = None
    meta: dict = field(default_factory=dict)
    video_only: bool = False


@dataclass
class BadItem:
    """Marker returned in training mode for an item that could not be loaded."""

    index: int
    path: str
    reason: str


REPLACEMENT_DRAWS = 8


def replace_bad(load, index: int, num_items: int, seed: int, epoch: int) -> dict | BadItem:
    """`load(index)`, or when that is a BadItem, the first readable of up to REPLACEMENT_DRAWS items drawn
    from (seed, epoch, index) — deterministic, so a resumed run sees the same stand-in — carrying the bad
    item under "replaced" (collate moves it to batch["bad_items"]). Only the requested item is counted as
    bad; a bad stand-in is counted when the sampler asks for it. All draws bad: the BadItem itself."""
    sample = load(index)
    if not isinstance(sample, BadItem):
        return sample
    rng = np.random.default_rng([seed, epoch, index, 0xBAD])
    for _ in range(REPLACEMENT_DRAWS):
        other = load(int(rng.integers(num_items)))
        if not isinstance(other, BadItem):
            other["replaced"] = [sample]
            return other
    return sample


def read_frame_window(item: ClipItem, start: float, duration_s: float, fps: float | None) -> Clip:
    """A window of a frame-folder video item (`item.frames` at `item.meta["frame_rate"]` frames/s):
    `read_frame_sequence`; an item without frames or rate is an AnnotationError naming it."""
    rate = float(item.meta.get("frame_rate") or 0)
    if rate <= 0 or not item.frames:
        raise AnnotationError(
            item.path, f"item {item.id!r}: a frame-folder video needs frames and meta frame_rate"
        )
    return read_frame_sequence(item.frames, rate, start, duration_s, fps, item.path)


class ClipDataset(Dataset):
    """Items → sample dicts: `video` uint8 (T, 3, H, W) before the transform, `audio` (C, S), `index`, …

    With `views` (instead of `transform`) a sample also holds `views`: one dict per `ClipView` with that
    view's `video`, `audio` (when the view keeps it), `geometry`, `start_s`, … (see `load_views`); the
    sample's own `video` / `audio` / … are view 0's, so single-view consumers read it unchanged.
    """

    accepts_epoch_keys = True  # dataset[(index, epoch)] works: the training loop's workers persist

    def __init__(
        self,
        items: list[ClipItem],
        spec: ClipSpec = ClipSpec(),
        transform: Any = None,
        mode: Literal["train", "eval"] = "train",
        seed: int = 0,
        views: list[ClipView] | None = None,
    ):
        if views and transform is not None:
            raise ValueError("give either one `transform` or per-view transforms (`views`), not both")
        for view in views or []:
            check_timing(view.timing)
            check_view_check(view.accept)
        self.views = list(views or [])
        self.items = items
        self.spec = spec
        self.transform = transform
        self.mode = mode
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Random windows depend on (seed, epoch, index) only, so a resumed run sees the same data."""
        self.epoch = epoch

    def media_span(self, item: ClipItem) -> float:
        """Length (s) of the item's media range [start_s, end_s) (probed once when the layout has no end)."""
        return self._span(item)

    def _span(self, item: ClipItem) -> float:
        """Length (s) of the item's media range [start_s, end_s)."""
        if item.end_s is None:
            # probed once per item and worker; a manifest with `end` avoids it
            media = item.audio_path if item.kind != "video" else item.path
            item.end_s = probe(media)["duration_s"] or item.start_s + self.spec.duration_s
        return item.end_s - item.start_s

    def _start(self, index: int, item: ClipItem) -> float:
        span = self._span(item)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return item.start_s + clip_starts(span, self.spec.duration_s, self.spec.sampler, rng)[0]

    def _read(self, item: ClipItem, start: float) -> Clip:
        spec = self.spec
        if item.kind == "video":
            return read_clip(
                item.path,
                start,
                spec.duration_s,
                fps=spec.fps,
                size=spec.size,
                sample_rate=None if item.video_only else spec.sample_rate,
                channels=spec.channels,
                audio_path=item.audio_path,
                video_offset_s=spec.video_offset_s,
            )
        if item.kind == "frames" and item.video_only:
            return read_frame_window(item, start, spec.duration_s, spec.fps)
        if item.audio_path is None:
            raise AnnotationError(item.path, f"item {item.id!r} has no audio file")
        if item.kind == "still":
            return read_image_audio(
                item.path,
                item.audio_path,
                start,
                spec.duration_s,
                size=spec.size,
                sample_rate=spec.sample_rate,
                channels=spec.channels,
            )
        frames = read_frames(item.frames or [], None)  # native size: masks are checked against it
        audio, valid = read_audio(
            item.audio_path, start, spec.duration_s, sample_rate=spec.sample_rate, channels=spec.channels
        )
        times = start + (np.arange(len(frames)) + 0.5) * spec.duration_s / len(frames)
        return Clip(
            path=item.path,
            start_s=start,
            duration_s=spec.duration_s,
            frames=frames,
            frame_times=torch.from_numpy(times),
            audio=audio,
            sample_rate=spec.sample_rate,
            num_valid_frames=len(frames),
            num_valid_samples=valid,
            padded=valid < audio.shape[1],
        )

    def load(self, index: int, item: ClipItem | None = None, start: float | None = None) -> dict:
        """The sample dict of item `index` (raises MediaError / AnnotationError). `item` overrides the
        listed item (streaming sources hand in items that are not in `self.items`); `start` (s) overrides
        the sampler's window."""
        item = self.items[index] if item is None else item
        clip = self._read(item, self._start(index, item) if start is None else start)
        video = clip.frames.permute(0, 3, 1, 2).contiguous()  # (T, 3, H, W) uint8
        sample = {
            "video": video,
            "index": index,
            "meta": {
                "id": item.id,
                "path": item.path,
                "start_s": clip.start_s,
                "padded": clip.padded,
                "valid_frames": clip.num_valid_frames or len(clip.frames),
                **item.meta,
            },
        }
        if clip.audio is not None:
            sample["audio"] = fit_audio(clip.audio, clip.num_valid_samples, self.spec.short_audio)  # (C, S)
            sample["sample_rate"] = clip.sample_rate
        if item.label is not None:
            sample["label"] = item.label
        if item.masks is not None:
            mask, sample["mask_valid"] = read_masks(item.masks, tuple(video.shape[-2:]))
            sample["mask"] = mask
        if item.kind == "frames" and self.spec.size is not None:
            _resize_frames_and_masks(sample, self.spec.size)
        height, width = sample["video"].shape[-2:]
        if item.boxes is not None:
            bw, bh = item.box_space or (width, height)
            scale = torch.tensor([width / bw, height / bh, width / bw, height / bh], dtype=torch.float32)
            sample["boxes"] = torch.tensor(item.boxes, dtype=torch.float32).reshape(-1, 4) * scale
        return sample

    def __getitem__(self, key: int | tuple[int, int]) -> dict | BadItem:
        """`dataset[i]`, or `dataset[(i, epoch)]` as the training sampler asks (so persistent workers know
        the epoch without being restarted)."""
        if isinstance(key, tuple):
            key, self.epoch = key
        if self.mode != "train":
            return self.sample(key)
        return replace_bad(self.sample, key, len(self.items), self.seed, self.epoch)

    def sample(self, index: int, item: ClipItem | None = None) -> dict | BadItem:
        """Load and transform; in training mode a bad item becomes a BadItem (see the module doc)."""
        try:
            if self.views:
                return self.load_views(index, item)
            sample = self.load(index, item)
        except DATA_ERRORS as err:
            if self.mode != "train":
                raise
            path = (item or self.items[index]).path
            return BadItem(index=index, path=str(path), reason=str(err))
        if self.transform is None:
            return sample
        # Augmentations depend on (seed, epoch, index) only: the same in every worker layout and after resume.
        generator = torch.Generator().manual_seed(hash((self.seed, self.epoch, index)) & 0x7FFF_FFFF_FFFF)
        return self.transform(sample, generator)

    def load_views(self, index: int, item: ClipItem | None = None) -> dict:
        """The multi-view sample of item `index`: view k's window from its timing rule relative to the
        sampler's window (rng from (seed, epoch, index, k)), each distinct window decoded once, view k's
        transform drawn from (seed, epoch, index, k) (view 0: as a single-view sample). View dicts hold the
        per-window and per-transform keys (`video`, `audio`, `geometry`, `mask`, `boxes`, …) and `start_s`,
        `padded` (the decoded window); the sample keeps `index`, `label`, `meta`, `sample_rate` and view 0's
        keys at its top level."""
        item = self.items[index] if item is None else item
        anchor = self._start(index, item) - item.start_s
        span, windows, views = self._span(item), {}, []
        last = max(0.0, span - self.spec.duration_s)
        for k, view in enumerate(self.views):
            rng = np.random.default_rng([self.seed, self.epoch, index, 1 + k])
            for draw in range(view.accept.tries if view.accept.name else 1):
                if k == 0 and draw > 0:  # the anchor's view failed its check: a new anchor window
                    anchor = float(rng.uniform(0.0, last)) if last > 0 else 0.0
                start = item.start_s + view_start(
                    anchor, span, self.spec.duration_s, view.timing, rng, self.epoch
                )
                if start not in windows:
                    windows[start] = self.load(index, item, start)
                raw = windows[start]
                generator = self._view_generator(index, k)
                out = raw if view.transform is None else view.transform(raw, generator)
                if view_passes(view.accept, out):
                    break
            if k == 0:
                first = raw
            views.append(_view_dict(raw, out, view.audio, self.spec.duration_s))
        top = {key: value for key, value in views[0].items() if key not in _WINDOW_KEYS}
        return {**{key: first[key] for key in _SAMPLE_KEYS if key in first}, **top, "views": views}

    def _view_generator(self, index: int, view: int) -> torch.Generator:
        # view 0 draws what a single-view sample draws: `views: [{}]` gives today's sample as view 0
        key = (self.seed, self.epoch, index) if view == 0 else (self.seed, self.epoch, index, view)
        return torch.Generator().manual_seed(hash(key) & 0x7FFF_FFFF_FFFF)


def _view_dict(raw: dict, out: dict, audio: bool, duration_s: float) -> dict:
    """A view's own keys from its transformed sample `out`, its window's `start_s` / `padded` and the
    times of its frames `frame_s` (T,) float64 (s, frame centres; after `frame_subset`, of the frames kept),
    and `geometry` always present (empty when no geometric op was drawn) so views collate."""
    view = {"geometry": [], **{key: value for key, value in out.items() if key not in _SAMPLE_KEYS}}
    start, frames = raw["meta"]["start_s"], raw["video"].shape[0]
    times = start + (torch.arange(frames, dtype=torch.float64) + 0.5) * duration_s / frames
    if "frame_index" in out:  # a temporal subset of the window (`frame_subset`)
        times = times[out["frame_index"]]
    view.update(start_s=start, padded=raw["meta"]["padded"], frame_s=times)
    if not audio:
        view.pop("audio", None)
    return view


def _resize_frames_and_masks(sample: dict, size: tuple[int, int] | int) -> None:
    """Resize `video` (antialiased bilinear) and `mask` (nearest) of a sample to `size` in place."""
    height, width = output_size(sample["video"].shape[-1], sample["video"].shape[-2], size)[::-1]
    if (height, width) == tuple(sample["video"].shape[-2:]):
        return
    sample["video"] = TF.resize(sample["video"], [height, width], antialias=True)
    if "mask" in sample:
        sample["mask"] = TF.resize(
            sample["mask"], [height, width], interpolation=TF.InterpolationMode.NEAREST
        )


_SAMPLE_KEYS = ("index", "label", "meta", "sample_rate")  # a multi-view sample's keys shared by its views
_WINDOW_KEYS = ("start_s", "padded", "frame_s")  # a view's window: kept in its view dict only
_LIST_KEYS = ("meta", "boxes", "geometry", "augment")


def collate(samples: list[dict | BadItem]) -> dict:
    """Batch sample dicts (video → (B, C, T, H, W) when the transform made (C, T, H, W)); bad items (left
    in the batch, or carried by a stand-in / the next streamed sample) are listed under `bad_items`;
    `num_items` counts every item the loader asked for."""
    good = [s for s in samples if not isinstance(s, BadItem)]
    bad = [s for s in samples if isinstance(s, BadItem)]
    extra = 0
    for s in good:  # bad items a stand-in replaced (`replace_bad`), or a stream skipped before this sample
        bad += s.pop("replaced", [])
        skipped = s.pop("skipped", [])
        bad, extra = bad + skipped, extra + len(skipped)
    batch: dict = {"bad_items": bad, "num_items": len(samples) + extra}
    return {**batch, **stack_samples(good)} if good else batch


def stack_samples(samples: list[dict]) -> dict:
    """Batch good sample dicts key by key: tensors stacked, `_LIST_KEYS` as lists, `views` per view
    (`batch["views"][k]["video"]` (B, C, T, H, W): views of different sizes are never stacked together)."""
    batch: dict = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if key in _LIST_KEYS:
            batch[key] = values
        elif key == "sample_rate":
            batch[key] = values[0]
        elif key == "views":
            batch[key] = [stack_samples([v[k] for v in values]) for k in range(len(values[0]))]
        else:
            batch[key] = default_collate(values)
    return batch


class TooManyBadItems(RuntimeError):
    """The share of unreadable items passed the configured limit."""


class BadItemTracker:
    """Counts bad items over a run (in the training process), logs each one, stops past a fraction.

    The run stops when bad / seen > max_fraction once at least `min_seen` items were seen, so a few bad
    files early on do not stop a long run but a wrong data root does, quickly.
    """

    def __init__(self, max_fraction: float = 0.01, min_seen: int = 200):
        self.max_fraction = max_fraction
        self.min_seen = min_seen
        self.seen = 0
        self.bad: list[BadItem] = []

    def update(self, batch: dict) -> None:
        self.seen += int(batch.get("num_items", 0))
        for item in batch.get("bad_items", []):
            self.bad.append(item)
            log.warning("skipped bad item %d: %s", item.index, item.reason)
        fraction = len(self.bad) / max(self.seen, 1)
        if self.seen >= self.min_seen and fraction > self.max_fraction:
            examples = "; ".join(b.reason for b in self.bad[:3])
            raise TooManyBadItems(
                f"{len(self.bad)} of {self.seen} items could not be read ({100 * fraction:.1f}% > "
                f"max_bad_fraction {100 * self.max_fraction:.1f}%). First ones: {examples}"
            )

    def state_dict(self) -> dict:
        return {"seen": self.seen, "bad": [b.__dict__ for b in self.bad]}

    def load_state_dict(self, state: dict) -> None:
        self.seen = state["seen"]
        self.bad = [BadItem(**b) for b in state["bad"]]


def worker_init(worker_id: int) -> None:
    """DataLoader worker init: one intra-op thread per worker (decoding is the parallelism), OpenCV too
    (flow in `avssl.transforms.motion`)."""
    torch.set_num_threads(1)
    try:
        import cv2
    except ImportError:  # pragma: no cover - OpenCV is a dependency; a stripped install still loads data
        return
    cv2.setNumThreads(1)


@dataclass
class DatasetIndex:
    """What a layout loader found: the items, the class names, and every entry it had to skip (with the
    file and the reason) so a training run and `avssl check-data` can report them."""

    items: list[ClipItem]
    classes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def filter(self, keep) -> DatasetIndex:
        return DatasetIndex([i for i in self.items if keep(i)], self.classes, self.problems)
