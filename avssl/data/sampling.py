"""Clip samplers: where in a video the window of a training or evaluation sample starts.

`random` draws uniformly over the valid starts (training), `centre` takes the middle window and `uniform`
spreads `num_clips` windows evenly (evaluation). All return start times in seconds.

Multi-view samples place each view's window relative to that window by a `ViewTiming` rule
(`VIEW_TIMINGS`): `same` window, an independent `random` one, an `offset` with a gap in seconds, or a
`distance` drawn from a distribution (clip pairs: uniform, or CVRL's decreasing law). A view may also name
a check its transformed sample must pass (`ViewCheck`, `VIEW_CHECKS`), else its window is drawn again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

SamplerName = Literal["random", "centre", "uniform", "start"]


def clip_starts(
    media_duration_s: float,
    clip_duration_s: float,
    how: SamplerName = "random",
    rng: np.random.Generator | None = None,
    num_clips: int = 1,
) -> list[float]:
    """Start times of `num_clips` windows of `clip_duration_s` inside a medium of `media_duration_s`.

    A medium shorter than the clip gives start 0 (the decoder pads the end and flags it).
    """
    last = max(0.0, media_duration_s - clip_duration_s)
    if how == "random":
        rng = rng if rng is not None else np.random.default_rng()
        return [float(s) for s in rng.uniform(0.0, last, size=num_clips)] if last > 0 else [0.0] * num_clips
    if how == "centre":
        return [last / 2.0] * num_clips
    if how == "start":
        return [0.0] * num_clips
    if how == "uniform":
        if num_clips == 1:
            return [last / 2.0]
        return [float(s) for s in np.linspace(0.0, last, num_clips)]
    raise ValueError(f"unknown clip sampler {how!r} (random, centre, uniform, start)")


@dataclass
class ViewTiming:
    """Where a view's window starts relative to the sample's window (the `anchor`, placed by the clip
    sampler): `rule` is a key of `VIEW_TIMINGS`; `min_gap_s` / `max_gap_s` are read by the `offset` rule.
    A new rule (e.g. CVRL's power-law gap, Qian et al. "Spatiotemporal Contrastive Video Representation
    Learning", CVPR 2021, or a curriculum of spans growing with `ViewWindow.epoch`) is one function and one
    entry in `VIEW_TIMINGS` (plus its own fields here)."""

    rule: str = "same"
    min_gap_s: float = 0.0
    max_gap_s: float = 0.0
    distance: str = "uniform"  # rule `distance`: "uniform" or "power" (see `distance_window`)
    power: float = 1.0  # rule `distance` with "power": the exponent a of P(d) ∝ 1 - (d / d_max)^a
    # rule `distance`: a curriculum over the largest distance (ConCur), see `curriculum_span`; 0 epochs: none
    curriculum_start_s: float = 0.0
    curriculum_epochs: int = 0


@dataclass(frozen=True)
class ViewWindow:
    """What a timing rule sees: the anchor window's start and the last valid start (s, both from the start
    of the item's media range), and the epoch (for rules that change over training)."""

    anchor_s: float
    last_s: float
    epoch: int = 0


def same_window(window: ViewWindow, timing: ViewTiming, rng: np.random.Generator) -> float:
    """The anchor's own window (views of one moment: audio-visual pairs, spatial multi-crop)."""
    return window.anchor_s


def random_window(window: ViewWindow, timing: ViewTiming, rng: np.random.Generator) -> float:
    """An independent uniform window over the whole medium (may overlap the anchor)."""
    return float(rng.uniform(0.0, window.last_s)) if window.last_s > 0 else 0.0


def offset_window(window: ViewWindow, timing: ViewTiming, rng: np.random.Generator) -> float:
    """A window whose start is `gap` ∈ U[min_gap_s, max_gap_s] before or after the anchor's start, on a
    side where it fits (the side drawn at random when both fit). When the medium is too short for any gap
    in the range, the largest gap that fits, on the roomier side."""
    anchor, last = window.anchor_s, window.last_s
    room = {-1: anchor, 1: last - anchor}  # how far the start can move to each side
    sides = [side for side, r in room.items() if r >= timing.min_gap_s]
    if not sides:
        side = max(room, key=room.get)
        return anchor + side * room[side]
    side = sides[int(rng.integers(len(sides)))]
    gap = rng.uniform(timing.min_gap_s, min(timing.max_gap_s, room[side]))
    return float(min(max(anchor + side * gap, 0.0), last))


DISTANCES = ("uniform", "power")


def draw_distance(low: float, high: float, timing: ViewTiming, rng: np.random.Generator) -> float:
    """One start-to-start distance d in [low, high]: uniform, or with density P(d) ∝ 1 - (d / high)^a
    (a = `timing.power`), the monotonically decreasing family of CVRL (Qian et al., "Spatiotemporal
    Contrastive Video Representation Learning", CVPR 2021, Sec. 3.2: a = 1 is its linear P(t) ∝ -t + c with
    c = the largest distance), drawn by rejection from the uniform."""
    if high <= low:
        return float(low)
    if timing.distance == "uniform":
        return float(rng.uniform(low, high))
    for _ in range(10_000):
        d = rng.uniform(low, high)
        if rng.uniform() < 1.0 - (d / high) ** timing.power:
            return float(d)
    return float(low)  # the density vanishes on [low, high] (low ≈ high): its left end


def curriculum_span(full: float, timing: ViewTiming, epoch: int) -> float:
    """The largest clip distance allowed at `epoch` under a curriculum over the temporal span of positives
    (Roy & Etemad, "Temporal Contrastive Learning with Curriculum", ICASSP 2023: near, easy positives first,
    the span widening as training goes; the linear schedule is ours, the paper's is not stated here):
    `curriculum_start_s` at epoch 0, growing linearly to `full` at epoch `curriculum_epochs` and staying
    there; `full` when `curriculum_epochs` is 0 (no curriculum)."""
    if timing.curriculum_epochs <= 0:
        return full
    progress = min(1.0, epoch / timing.curriculum_epochs)
    start = min(timing.curriculum_start_s, full)
    return start + (full - start) * progress


def distance_window(window: ViewWindow, timing: ViewTiming, rng: np.random.Generator) -> float:
    """A clip at a start-to-start distance d from the anchor, d drawn by `draw_distance` on
    [min_gap_s, max_gap_s] (max_gap_s 0: up to the whole medium; under a curriculum, up to
    `curriculum_span` of the epoch) truncated to the distances that fit on one side of the anchor; the side
    drawn at random among those where d fits. d is |view start - anchor| (a batch records both starts)."""
    anchor, last = window.anchor_s, window.last_s
    room = {-1: anchor, 1: last - anchor}
    full = curriculum_span(timing.max_gap_s if timing.max_gap_s > 0 else last, timing, window.epoch)
    high = min(full, max(room.values()))
    low = min(timing.min_gap_s, high)
    d = draw_distance(low, high, timing, rng)
    sides = [side for side, r in room.items() if r >= d - 1e-9]
    side = sides[int(rng.integers(len(sides)))]
    return float(min(max(anchor + side * d, 0.0), last))


VIEW_TIMINGS = {
    "same": same_window,
    "random": random_window,
    "offset": offset_window,
    "distance": distance_window,
}


@dataclass
class ViewCheck:
    """A condition on a view's transformed sample; a view that fails it draws its window again (the same
    timing rule, the next draws of its rng; the anchor view: a new uniform window over the medium), up to
    `tries` windows in all, and keeps the last. `name` is a key of `VIEW_CHECKS` ("": no check).

    `tracked` (PreViTS: Chen et al., "PreViTS: Contrastive Pretraining with Video Tracking Supervision",
    WACV 2023, Sec. 3.1: clips are sampled so that both contain the tracked object): at least
    `min_fraction` of the view's frames hold a box of `sample["track"]` (the `object_track` transform)."""

    name: str = ""
    min_fraction: float = 0.5
    tries: int = 4


def tracked_fraction(sample: dict) -> float:
    """The fraction of a sample's frames with a tracked box (rows of `sample["track"]` without NaN)."""
    track = sample.get("track")
    if track is None:
        raise ValueError(
            "view check `tracked` needs sample['track']: put {name: object_track} in the view's transforms"
        )
    track = np.asarray(track, dtype=np.float64)
    return float((~np.isnan(track).any(axis=1)).mean()) if len(track) else 0.0


VIEW_CHECKS = {"tracked": lambda sample, check: tracked_fraction(sample) >= check.min_fraction}


def check_view_check(check: ViewCheck) -> None:
    """Raise ValueError for an unknown check, tries < 1 or a fraction outside [0, 1]."""
    if check.name and check.name not in VIEW_CHECKS:
        raise ValueError(f"unknown view check {check.name!r} ({', '.join(VIEW_CHECKS)}, or empty: none)")
    if check.tries < 1 or not 0.0 <= check.min_fraction <= 1.0:
        raise ValueError(f"view check needs tries >= 1 and 0 <= min_fraction <= 1, got {check}")


def view_passes(check: ViewCheck, sample: dict) -> bool:
    """Whether a transformed view sample meets `check` (always, when it names none)."""
    return not check.name or bool(VIEW_CHECKS[check.name](sample, check))


def check_timing(timing: ViewTiming) -> None:
    """Raise ValueError for an unknown rule or gaps that are not 0 <= min_gap_s <= max_gap_s."""
    if timing.rule not in VIEW_TIMINGS:
        raise ValueError(f"unknown view timing {timing.rule!r} ({', '.join(VIEW_TIMINGS)})")
    if timing.rule == "distance":
        if timing.distance not in DISTANCES or timing.power <= 0:
            raise ValueError(
                f"view timing `distance` needs distance uniform|power and power > 0, got {timing}"
            )
        if timing.min_gap_s < 0 or (timing.max_gap_s > 0 and timing.max_gap_s < timing.min_gap_s):
            raise ValueError(f"view timing needs 0 <= min_gap_s <= max_gap_s (0: no limit), got {timing}")
        if timing.curriculum_epochs < 0 or timing.curriculum_start_s < 0:
            raise ValueError(
                f"view timing needs curriculum_epochs >= 0 and curriculum_start_s >= 0, got {timing}"
            )
    elif not 0.0 <= timing.min_gap_s <= timing.max_gap_s:
        raise ValueError(f"view timing needs 0 <= min_gap_s <= max_gap_s, got {timing}")


def view_start(
    anchor_s: float,
    media_duration_s: float,
    clip_duration_s: float,
    timing: ViewTiming,
    rng: np.random.Generator,
    epoch: int = 0,
) -> float:
    """Start (s, from the medium's start) of a view's window given the anchor window's start."""
    check_timing(timing)
    window = ViewWindow(anchor_s, max(0.0, media_duration_s - clip_duration_s), epoch)
    return VIEW_TIMINGS[timing.rule](window, timing, rng)
