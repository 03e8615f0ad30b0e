"""Clip samplers: where in a video the window of a training or evaluation sample starts.

`random` draws uniformly over the valid starts (training), `centre` takes the middle window and `uniform`
spreads `num_clips` windows evenly (evaluation). All return start times in seconds.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

SamplerName = Literal["random", "centre", "uniform"]


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
    if how == "uniform":
        if num_clips == 1:
            return [last / 2.0]
        return [float(s) for s in np.linspace(0.0, last, num_clips)]
    raise ValueError(f"unknown clip sampler {how!r} (random, centre, uniform)")
