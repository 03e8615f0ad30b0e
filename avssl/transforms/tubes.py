"""Motion-focused tube sampling: spatio-temporal crops placed where the clip moves.

Li, Zhang, Qiu, Yao, Liu & Mei, "Motion-Focused Contrastive Learning of Video Representations", ICCV 2021
(MCL), Sec. 3.2 "motion-focused video augmentation": a pre-computed motion map (optical flow) decides which
frames and which spatial region of a clip become the network's input — a tubelet (one spatial box over a run
of consecutive frames) in the high-motion part of the clip, instead of a uniformly random crop that often
holds only static background.

Here the motion map is the clip's `sample["motion"]` written by `optical_flow` or `frame_difference`
(`avssl.transforms.motion`): its per-pixel magnitude (`motion_magnitude`: the flow vector's length, or the mean
absolute frame difference over colour) is summed over the tube's frames, and a box of `size` (fraction of the
frame side) is drawn with probability proportional to the motion inside it (`box_scores` computes that sum
for every position at once with an integral image) plus `floor` × the mean (so a still clip falls back to a
uniform draw). `num_tubes` tubes are drawn that way and the one holding the most motion is kept (1: a single
draw; larger: sharper focus). With `frames` set, the tube's temporal window of that many frames is drawn the
same way first (∝ the motion inside it: static stretches are rarely chosen).

`FlowTubes` crops `video`, `motion`, masks and boxes (through the geometry records, so masks follow) without
resizing, and records `sample["tube"] = {"box": [top, left, height, width], "start": t0, "frames": L}`. It goes
after the motion transform and before `clip_augment` (which then resizes the tube; use `scale: [1.0, 1.0]`,
`ratio: [1.0, 1.0]` to keep the whole tube).
"""

from __future__ import annotations

import torch

from avssl.transforms.compose import Sample, Transform
from avssl.transforms.video import _crop_op, apply_geometric_op


def motion_magnitude(motion: torch.Tensor, kind: str) -> torch.Tensor:
    """Motion input with channels on dim 1 — a clip's (T', C, H, W) or a batch's (B, C, T', H, W) — → the
    per-pixel magnitude without that dim: the length of the (dx, dy) flow vector for `kind` "flow", else the
    mean absolute value over channels (frame differences)."""
    if motion.ndim not in (4, 5):
        raise ValueError(f"motion must be (T', C, H, W) or (B, C, T', H, W), got shape {tuple(motion.shape)}")
    motion = motion.float()
    if kind == "flow":
        if motion.shape[1] != 2:
            raise ValueError(f"flow must have 2 channels (dx, dy), got {motion.shape[1]}")
        return motion.pow(2).sum(1).sqrt()
    return motion.abs().mean(1)


def box_scores(heat: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(H, W) map → (H − height + 1, W − width + 1): the sum of the map inside the box whose top-left
    corner is at each position (an integral image)."""
    H, W = heat.shape
    if not (0 < height <= H and 0 < width <= W):
        raise ValueError(f"box {height}x{width} does not fit a {H}x{W} map")
    integral = torch.zeros(H + 1, W + 1, dtype=torch.float64)
    integral[1:, 1:] = heat.double().cumsum(0).cumsum(1)
    return (
        integral[height:, width:]
        - integral[:-height, width:]
        - integral[height:, :-width]
        + integral[:-height, :-width]
    )


def _draw(scores: torch.Tensor, floor: float, generator: torch.Generator | None) -> int:
    """An index of the flattened `scores` drawn ∝ score + floor × mean score (uniform when all are 0)."""
    weights = scores.flatten().clamp_min(0) + floor * scores.clamp_min(0).mean()
    if not torch.isfinite(weights).all() or weights.sum() <= 0:
        weights = torch.ones_like(weights)
    return int(torch.multinomial(weights.float(), 1, generator=generator))


def sample_tube(
    magnitude: torch.Tensor,
    size: tuple[int, int],
    frames: int | None = None,
    num_tubes: int = 1,
    floor: float = 0.0,
    generator: torch.Generator | None = None,
) -> dict:
    """Draw one tube on a (T', H, W) magnitude map (T' = T − 1 motion steps of a T-frame clip).

    Returns {"box": [top, left, height, width], "start": t0, "frames": L, "motion": the summed magnitude in
    the tube}: frames t0 … t0 + L − 1 of the clip (motion steps t0 … t0 + L − 2). The window (when `frames`)
    and the box are each drawn ∝ the motion they hold; of `num_tubes` draws the one with the most motion is
    kept."""
    if num_tubes < 1:
        raise ValueError(f"num_tubes must be >= 1, got {num_tubes}")
    steps = magnitude.shape[0]
    clip_frames = steps + 1
    length = clip_frames if frames is None else frames
    if not 2 <= length <= clip_frames:
        raise ValueError(
            f"tube frames must be in [2, {clip_frames}] for a {clip_frames}-frame clip, got {length}"
        )
    per_step = magnitude.flatten(1).sum(1).double()  # (T',)
    window = per_step.unfold(0, length - 1, 1).sum(1)  # (T − L + 1,): motion of each window
    best: dict | None = None
    for _ in range(num_tubes):
        start = _draw(window, floor, generator)
        heat = magnitude[start : start + length - 1].sum(0)
        scores = box_scores(heat, *size)
        index = _draw(scores, floor, generator)
        top, left = divmod(index, scores.shape[1])
        tube = {
            "box": [top, left, size[0], size[1]],
            "start": start,
            "frames": length,
            "motion": float(scores[top, left]),
        }
        if best is None or tube["motion"] > best["motion"]:
            best = tube
    assert best is not None
    return best


class FlowTubes(Transform):
    """Crop each clip to a tube following its motion (see the module doc). `size`: the tube's side as a
    fraction of the frame's (one number, or (height, width) fractions); `frames`: the tube's length in frames
    (None: the whole clip); `num_tubes`: tubes drawn, the one with the most motion kept; `floor`: added
    uniform weight (× the mean box score) so low-motion regions keep some chance."""

    def __init__(
        self,
        size: float | tuple[float, float] = 0.6,
        frames: int | None = None,
        num_tubes: int = 1,
        floor: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        fractions = (size, size) if isinstance(size, (int, float)) else tuple(size)
        if len(fractions) != 2 or not all(0.0 < f <= 1.0 for f in fractions):
            raise ValueError(f"flow_tubes size must be a fraction in (0, 1] (or two), got {size!r}")
        if num_tubes < 1:
            raise ValueError(f"flow_tubes num_tubes must be >= 1, got {num_tubes}")
        if floor < 0:
            raise ValueError(f"flow_tubes floor must be >= 0, got {floor}")
        self.fractions, self.frames, self.num_tubes, self.floor = fractions, frames, num_tubes, floor

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        motion = sample.get("motion")
        if motion is None:
            raise ValueError(
                "flow_tubes needs sample['motion']: put {name: optical_flow} or {name: frame_difference} before it"
            )
        video = sample["video"]  # (T, 3, H, W)
        if motion.shape[0] != video.shape[0] - 1 or motion.shape[-2:] != video.shape[-2:]:
            raise ValueError(
                f"flow_tubes: motion {tuple(motion.shape)} does not match the clip {tuple(video.shape)}; "
                "it goes before clip_augment / crops"
            )
        H, W = int(video.shape[-2]), int(video.shape[-1])
        size = (max(1, round(self.fractions[0] * H)), max(1, round(self.fractions[1] * W)))
        kind = sample.get("meta", {}).get("motion", "")
        tube = sample_tube(
            motion_magnitude(motion, kind), size, self.frames, self.num_tubes, self.floor, generator
        )
        top, left, height, width = tube["box"]
        t0, length = tube["start"], tube["frames"]
        sample = dict(sample)
        sample["video"] = video[t0 : t0 + length]
        sample["motion"] = motion[t0 : t0 + length - 1]
        if (
            sample.get("mask") is not None
            and sample["mask"].ndim >= 3
            and sample["mask"].shape[0] == video.shape[0]
        ):
            sample["mask"] = sample["mask"][t0 : t0 + length]
        sample = apply_geometric_op(sample, _crop_op((H, W), top, left, (height, width)), (height, width))
        sample["motion"] = sample["motion"][..., top : top + height, left : left + width]
        sample["tube"] = {key: tube[key] for key in ("box", "start", "frames")}
        return sample
