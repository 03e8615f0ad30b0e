"""Temporally consistent spatial augmentation of a video clip, with its drawn parameters recorded.

CVRL (Qian et al., "Spatiotemporal Contrastive Video Representation Learning", CVPR 2021, Sec. 3.3):
augmenting each frame of a clip independently destroys the motion between frames, so one crop, one flip
and one colour-jitter draw are applied to every frame of a clip; the two clips of a positive pair get
independent draws (each view of a multi-view sample has its own generator, `ClipDataset.load_views`).

`ClipAugment` draws (crop box, flip, colour jitter factors and order, grayscale) once per call, applies
them to the whole (T, 3, H, W) clip with `torchvision.transforms.v2.functional` (frames are the leading
dimension, so every frame gets the identical op) and records them in `sample["augment"]`;
`apply_clip_augment(video, params, size)` replays a record exactly (tests, debugging, applying a clip's
augmentation to a derived input such as its flow). Crop and flip also go through the geometry records
(`sample["geometry"]`), so masks and boxes follow and equivariance code keeps working; a motion input
(`sample["motion"]`, `avssl.transforms.motion`) gets the same crop and flip (`augment_motion`).

`per_frame=True` is CVRL's ablation of Sec. 3.3 (temporally inconsistent augmentation): every frame gets its own draw
(`sample["augment"]` = {"per_frame": [one record per frame]}); it augments the frames only (a sample with
masks, boxes or a motion input is refused: their per-frame geometry is not tracked).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torchvision.transforms.v2.functional as TF

from avssl.transforms.compose import Sample, Transform, rand_bool, rand_uniform
from avssl.transforms.functional.geometry import HFlip
from avssl.transforms.video import RandomResizedCrop, _crop_op, _pair, apply_geometric_op

JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


def _jitter(video: torch.Tensor, name: str, factor: float) -> torch.Tensor:
    if name == "brightness":
        return TF.adjust_brightness(video, factor)
    if name == "contrast":
        return TF.adjust_contrast(video, factor)
    if name == "saturation":
        return TF.adjust_saturation(video, factor)
    return TF.adjust_hue(video, factor)


def apply_colour(video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    """The recorded colour jitter (`jitter`: factors applied in `order`, None = not drawn) and grayscale
    on a (..., 3, H, W) clip."""
    jitter = params.get("jitter")
    if jitter is not None:
        for name in jitter["order"]:
            video = _jitter(video, name, jitter[name])
    if params.get("grayscale"):
        video = TF.rgb_to_grayscale(video, num_output_channels=3)
    return video


def apply_clip_augment(video: torch.Tensor, params: dict[str, Any], size: Sequence[int]) -> torch.Tensor:
    """Replay a `ClipAugment` record on frames (T, 3, H, W): crop `[top, left, height, width]` resized to
    `size` (antialiased bilinear), flip, then colour."""
    top, left, height, width = params["crop"]
    out = TF.resized_crop(video, top, left, height, width, list(size), antialias=True)
    if params["flip"]:
        out = TF.horizontal_flip(out)
    return apply_colour(out, params)


def augment_motion(motion: torch.Tensor, params: dict[str, Any], kind: str) -> torch.Tensor:
    """A clip's recorded crop and flip on its motion input (T − 1, C, H, W) (`avssl.transforms.motion`):
    flow (`kind` "flow") is rescaled with the resize and its dx negated by a flip; no colour."""
    top, left, height, width = params["crop"]
    size = params["size"]
    out = TF.resized_crop(motion.float(), top, left, height, width, list(size), antialias=True)
    if kind == "flow":
        scale = torch.tensor([size[1] / width, size[0] / height]).view(1, 2, 1, 1)
        out = out * scale
    if params["flip"]:
        out = TF.horizontal_flip(out)
        if kind == "flow":
            out = out * torch.tensor([-1.0, 1.0]).view(1, 2, 1, 1)
    return out


class ClipAugment(Transform):
    """One random resized crop (area fraction in `scale`, aspect in `ratio`, resized to `size`), a
    horizontal flip with probability `flip_p`, a colour jitter with probability `jitter_p` (brightness,
    contrast, saturation factors in U[max(0, 1 - x), 1 + x], hue in U[-hue, hue], in a random order) and a
    grayscale with probability `grayscale_p` — each drawn once per clip and applied to every frame.
    Writes `sample["augment"]` = {"crop": [top, left, height, width] (pixels of the input), "flip",
    "jitter": {factors…, "order"} or None, "grayscale", "size"}."""

    def __init__(
        self,
        size: int | Sequence[int],
        scale: Sequence[float] = (0.3, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.1,
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        per_frame: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        if not 0.0 <= hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {hue}")
        self.per_frame = per_frame
        self.size = _pair(size)
        self.crop = RandomResizedCrop(self.size, scale, ratio)
        self.flip_p, self.jitter_p, self.grayscale_p = flip_p, jitter_p, grayscale_p
        self.strength = {"brightness": brightness, "contrast": contrast, "saturation": saturation, "hue": hue}

    def draw(self, in_size: tuple[int, int], generator: torch.Generator | None) -> dict[str, Any]:
        """The parameters of one clip's augmentation."""
        top, left, height, width = self.crop.sample_crop(in_size, generator)
        flip = rand_bool(self.flip_p, generator)
        jitter = None
        if rand_bool(self.jitter_p, generator):
            jitter = {}
            for name in JITTER_OPS:
                x = self.strength[name]
                if name == "hue":
                    jitter[name] = rand_uniform(-x, x, generator) if x > 0 else 0.0
                else:
                    jitter[name] = rand_uniform(max(0.0, 1.0 - x), 1.0 + x, generator) if x > 0 else 1.0
            jitter["order"] = [JITTER_OPS[int(i)] for i in torch.randperm(4, generator=generator)]
        grayscale = rand_bool(self.grayscale_p, generator)
        return {
            "crop": [top, left, height, width],
            "flip": flip,
            "jitter": jitter,
            "grayscale": grayscale,
            "size": list(self.size),
        }

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        in_size = tuple(int(s) for s in sample["video"].shape[-2:])
        if self.per_frame:
            return self.apply_per_frame(sample, generator)
        return self.apply(sample, self.draw(in_size, generator))

    def apply_per_frame(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        """The temporally inconsistent ablation: a fresh draw for every frame of the clip (frames only)."""
        held = [key for key in ("mask", "boxes", "motion", "track") if sample.get(key) is not None]
        if held:
            raise ValueError(f"clip_augment per_frame augments frames only; the sample also holds {held}")
        video = sample["video"]
        in_size = tuple(int(s) for s in video.shape[-2:])
        records = [self.draw(in_size, generator) for _ in range(video.shape[0])]
        frames = [apply_clip_augment(video[t : t + 1], r, self.size) for t, r in enumerate(records)]
        return {**sample, "video": torch.cat(frames), "augment": {"per_frame": records}}

    def apply(self, sample: Sample, params: dict[str, Any]) -> Sample:
        """The drawn `params` on a sample: video, masks, boxes and motion; recorded in `augment`."""
        in_size = tuple(int(s) for s in sample["video"].shape[-2:])
        top, left, height, width = params["crop"]
        sample = apply_geometric_op(sample, _crop_op(in_size, top, left, (height, width)), self.size)
        if params["flip"]:
            sample = apply_geometric_op(sample, HFlip())
        sample["video"] = apply_colour(sample["video"], params)
        if sample.get("motion") is not None:
            sample["motion"] = augment_motion(
                sample["motion"], params, sample.get("meta", {}).get("motion", "")
            )
        sample["augment"] = params
        return sample


class FrameSubset(Transform):
    """CARL's temporal augmentation (Chen et al., CVPR 2022, as its release samples Penn Action / Pouring
    views): `count` frames of the window drawn at random without replacement and kept in time order, from the
    frames that lie inside the video (`meta["valid_frames"]`, the decoder's count; all frames when absent).
    A window with fewer valid frames keeps them all and repeats the last one. Writes `frame_index` (count,)
    long (positions in the decoded window: a view's `frame_s` follows them) and `frame_valid` (count,) bool
    (False for the repeats). Put it before the spatial transforms."""

    def __init__(self, count: int = 16) -> None:
        super().__init__()
        if count < 1:
            raise ValueError(f"frame_subset count must be >= 1, got {count}")
        self.count = count

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        video = sample["video"]
        total = video.shape[0]
        valid = int((sample.get("meta") or {}).get("valid_frames") or total)
        valid = max(1, min(total, valid))
        if valid >= self.count:
            index = torch.randperm(valid, generator=generator)[: self.count].sort().values
            keep = torch.ones(self.count, dtype=torch.bool)
        else:
            index = torch.cat([torch.arange(valid), torch.full((self.count - valid,), valid - 1)])
            keep = torch.arange(self.count) < valid
        sample["video"] = video[index]
        sample["frame_index"], sample["frame_valid"] = index, keep
        return sample
