"""Training and evaluation data loaders from a `DataConfig`: any layout or tar shards, the resumable
per-rank batch order, workers with one thread each, bad items skipped and counted (see datasets.base)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipDataset, ClipSpec, ClipView, collate, worker_init
from avssl.data.datasets.shards import ShardDataset
from avssl.data.sampling import ViewCheck, ViewTiming
from avssl.transforms import build_transforms


@dataclass
class ViewConfig:
    """One view of a multi-view training sample: its transforms (None: the data config's `transforms`),
    the size its resize/crop specs get (None: the data config's `size`), its window's timing relative to
    the sample's window (`avssl.data.sampling.VIEW_TIMINGS`: same, random, offset, distance), whether it
    keeps its audio, and `accept`: a condition its transformed sample must meet, else its window is drawn
    again (`avssl.data.sampling.ViewCheck`; `{name: tracked}`: PreViTS' clips that show the tracked object).
    Asymmetric views (BYOL: Grill et al., "Bootstrap Your Own Latent: A New Approach to
    Self-Supervised Learning", NeurIPS 2020) give each view its own probabilities; multi-crop (Caron et al.,
    "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments", NeurIPS 2020) lists 2
    global views and N smaller local ones."""

    transforms: list[dict] | None = None
    size: int | None = None
    timing: ViewTiming = field(default_factory=ViewTiming)
    audio: bool = True
    accept: ViewCheck = field(default_factory=ViewCheck)  # a condition the view must meet, else redrawn


def view_transforms(views: list[ViewConfig], transforms: list[dict], size: int) -> list:
    """One transform pipeline per view; a view's missing transforms / size are the data config's."""
    return [
        sized_transforms(transforms if v.transforms is None else v.transforms, v.size or size) for v in views
    ]


@dataclass
class EvalInputConfig:
    """A published model's test-time input, as its authors' test code prepares it (set by `avssl
    import-checkpoint`; None in `DataConfig.eval_input`: avssl's own evaluation input). When set, evaluation
    and inference (`avssl eval localization --run`, `avssl localize`) decode a test frame at its native size
    and pass it through `data.eval_transforms` (sized by `data.size`), and take `data.duration_s` of audio:
    `audio_window` "start" = from the start of the item's audio, "centre" = centred on it; audio shorter
    than that is repeated from its start ("tile") or zero padded ("pad"). `avssl localize` then defaults its
    window to `data.duration_s`."""

    audio_window: Literal["centre", "start"] = "centre"
    short_audio: Literal["pad", "tile"] = "tile"


@dataclass
class DataConfig:
    """Where the data is and what a sample holds. `layout` is a dataset layout or "shards". `views` (empty:
    one view, today's samples) makes training samples multi-view (`ViewConfig`; evaluation stays single-view);
    frames are decoded once per distinct window, for the largest of `size` and the views' sizes."""

    root: str = ""
    layout: str = "vggsound"
    split: str | None = "train"
    split_index: int = 1  # the official split (1, 2, 3) of a layout that ships several (UCF101, HMDB51)
    duration_s: float = 1.0
    fps: float = 4.0
    size: int = 112
    sample_rate: int = 16000
    channels: int = 1
    video_offset_s: float = 0.0  # frames at start + offset + k / fps (0.5 with 1 s and fps 1: the centre)
    num_workers: int = 2
    max_bad_fraction: float = 0.01
    shuffle_buffer: int = 0  # layout "shards": items shuffled within a buffer of this many (0: shard order)
    # sizes of resize/crop transforms default to `size` when a spec leaves them out
    transforms: list[dict] = field(
        default_factory=lambda: [
            {"name": "random_resized_crop", "scale": [0.5, 1.0]},
            {"name": "random_horizontal_flip", "p": 0.5},
            {"name": "normalize"},
        ]
    )
    eval_transforms: list[dict] = field(
        default_factory=lambda: [
            {"name": "resize"},
            {"name": "center_crop"},
            {"name": "normalize"},
        ]
    )
    views: list[ViewConfig] = field(default_factory=list)
    eval_input: EvalInputConfig | None = None


def clip_spec(cfg: DataConfig, sampler: str = "random") -> ClipSpec:
    """The decoding spec: frames decoded at a shorter side of 1.15 × size (room for crops); training with
    views: 1.15 × the largest view size. An evaluation spec ("centre") of a config with `eval_input`:
    frames at their native size, its audio window and short-audio rule."""
    if sampler == "centre" and cfg.eval_input is not None:
        return ClipSpec(
            duration_s=cfg.duration_s,
            fps=cfg.fps,
            size=None,
            sample_rate=cfg.sample_rate,
            channels=cfg.channels,
            sampler=cfg.eval_input.audio_window,
            video_offset_s=cfg.video_offset_s,
            short_audio=cfg.eval_input.short_audio,
        )
    size = cfg.size
    if sampler == "random":
        size = round(max([cfg.size] + [v.size or cfg.size for v in cfg.views]) * 1.15)
    return ClipSpec(
        duration_s=cfg.duration_s,
        fps=cfg.fps,
        size=size,
        sample_rate=cfg.sample_rate,
        channels=cfg.channels,
        sampler=sampler,
        video_offset_s=cfg.video_offset_s,
    )


class ResumableBatchSampler(Sampler[list[tuple[int, int]]]):
    """Per-epoch permutation from (seed, epoch), dealt to ranks in contiguous batches; full batches only.
    Yields (index, epoch) keys for datasets that accept them (`ClipDataset`), so workers can stay alive
    across epochs; plain indices otherwise (`epoch_keys=False`).

    The position (epoch, batch) is state: `start_at(epoch, batch)` resumes mid-epoch, so a resumed run sees
    exactly the batches the uninterrupted run would have seen. `endless`: iteration runs on into the next
    epochs (one DataLoader iterator for a whole run: its workers and their prefetching never stop at an
    epoch boundary; the keys carry the epoch).
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        epoch_keys: bool = True,
        endless: bool = False,
    ):
        if endless and not epoch_keys:
            raise ValueError("an endless sampler needs epoch keys (the dataset learns the epoch from them)")
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.epoch_keys, self.endless = epoch_keys, endless
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = num_items // (batch_size * world_size)
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"the dataset has {num_items} items, fewer than one global batch "
                f"({batch_size} × {world_size} processes)"
            )
        self.epoch, self.first_batch = 0, 0

    def start_at(self, epoch: int, batch: int) -> None:
        self.epoch, self.first_batch = epoch, batch

    def __len__(self) -> int:
        return self.batches_per_epoch - self.first_batch

    def __iter__(self) -> Iterator[list[int]]:
        epoch, first = self.epoch, self.first_batch
        global_batch = self.batch_size * self.world_size
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.num_items)
            for b in range(first, self.batches_per_epoch):
                chunk = order[b * global_batch : (b + 1) * global_batch]
                mine = chunk[self.rank * self.batch_size : (self.rank + 1) * self.batch_size].tolist()
                yield [(index, epoch) for index in mine] if self.epoch_keys else mine
            if not self.endless:
                return
            epoch, first = epoch + 1, 0


_SIZED_TRANSFORMS = ("random_resized_crop", "resize", "center_crop", "clip_augment", "track_crop")


def sized_transforms(specs: list[dict], size):
    """`build_transforms(specs)` where resize/crop specs without a size get `size`."""
    return build_transforms(
        [{**t, "size": t.get("size", size)} if t["name"] in _SIZED_TRANSFORMS else t for t in specs]
    )


def data_transforms(cfg: DataConfig, train: bool):
    """The training or evaluation pipeline of `cfg`; resize/crop specs without a size get `cfg.size`."""
    return sized_transforms(cfg.transforms if train else cfg.eval_transforms, cfg.size)


def build_dataset(cfg: DataConfig, train: bool, seed: int, rank: int = 0, world_size: int = 1):
    """A ClipDataset (map-style) for a layout, or a ShardDataset (streaming) for layout "shards"."""
    spec = clip_spec(cfg, "random" if train else "centre")
    views = []
    if train and cfg.views:
        pipelines = view_transforms(cfg.views, cfg.transforms, cfg.size)
        views = [ClipView(t, v.timing, v.audio, v.accept) for t, v in zip(pipelines, cfg.views)]
    transform = None if views else data_transforms(cfg, train)
    mode = "train" if train else "eval"
    if cfg.layout == "shards":
        buffer = cfg.shuffle_buffer if train else 0
        return ShardDataset(cfg.root, spec, transform, mode, seed, rank, world_size, views, buffer)
    index = load_index(cfg.layout, cfg.root, cfg.split, cfg.split_index)
    return ClipDataset(index.items, spec, transform, mode, seed, views)


def build_loader(
    dataset,
    batch_size: int,
    num_workers: int,
    sampler: ResumableBatchSampler | None = None,
    shuffle_eval: bool = False,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader with the project's collate and worker init; `sampler` drives map-style training."""
    # Its own generator: creating an iterator must not draw from the global RNG (dropout etc. would then
    # depend on when iterators are made, and a resumed run would diverge).
    common = {
        "num_workers": num_workers,
        "collate_fn": collate,
        "worker_init_fn": worker_init,
        "persistent_workers": False,
        "generator": torch.Generator().manual_seed(0),
    }
    if sampler is not None:
        return DataLoader(dataset, batch_sampler=sampler, **common)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle_eval, drop_last=drop_last, **common)
