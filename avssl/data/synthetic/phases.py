"""A synthetic frame-wise action set with known phases, in the Penn Action layout (`avssl synth --layout
pennaction`; read by `avssl.data.datasets.pennaction`).

Every video is one repetition of an action: a textured object travels a closed path of `PHASES_PER_ACTION`
straight strokes over a static textured background; the action (class) is the path's shape (`ACTIONS`),
the phase of a frame is the stroke the object is on. Each video draws its own waypoint jitter, object
(shape, colours, texture, size), background, length (`min_frames` … `max_frames`) and stroke durations
(Dirichlet shares of the video), so phase boundaries fall at different frames in every video and only the
object's place on its path says the phase — what phase classification, progression and cross-video
alignment (Kendall's τ) measure.

Written: `frames/<id>/000001.jpg …`, `labels/<id>.mat` (`action`, `train` 1 / -1, `nframes`,
`dimensions`), `phases/{train,val}/<action>/<id>.npy` (the per-frame phase, int64) and `synth_gt.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avssl.data.media_writer import write_image
from avssl.data.synthetic.action import draw_background, draw_foreground, paint_at, render_background

# waypoints (x, y) in fractions of the frame; stroke k runs from waypoint k to k + 1
ACTIONS: dict[str, tuple[tuple[float, float], ...]] = {
    "square_path": ((0.25, 0.75), (0.25, 0.25), (0.75, 0.25), (0.75, 0.75)),
    "triangle_path": ((0.5, 0.8), (0.2, 0.3), (0.8, 0.3), (0.5, 0.8)),
    "zigzag_path": ((0.2, 0.8), (0.4, 0.2), (0.6, 0.8), (0.8, 0.2)),
    "hook_path": ((0.8, 0.8), (0.2, 0.8), (0.2, 0.2), (0.5, 0.5)),
}
PHASES_PER_ACTION = 3


@dataclass(frozen=True)
class PhaseSynthSpec:
    """`n` videos of `num_classes` actions (≤ len(ACTIONS)), `size` px, `min_frames` … `max_frames` frames;
    every `test_every`-th video of an action is in the test (val) split."""

    n: int = 24
    num_classes: int = 3
    size: int = 64
    min_frames: int = 20
    max_frames: int = 60
    test_every: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.num_classes <= len(ACTIONS):
            raise ValueError(f"the phase set has 1 … {len(ACTIONS)} actions, got {self.num_classes}")
        if self.min_frames < 2 * PHASES_PER_ACTION or self.max_frames < self.min_frames:
            raise ValueError(f"need {2 * PHASES_PER_ACTION} <= min_frames <= max_frames, got {self}")


def phase_track(rng: np.random.Generator, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """((T,) phase per frame, (T,) position along the current stroke in [0, 1)): stroke durations are
    Dirichlet shares of the video, at least one frame each."""
    shares = rng.dirichlet(np.full(PHASES_PER_ACTION, 2.0))
    counts = np.maximum(1, np.round(shares * frames).astype(int))
    while counts.sum() != frames:  # fix rounding on the longest / shortest stroke
        k = int(np.argmax(counts)) if counts.sum() > frames else int(np.argmin(counts))
        counts[k] += -1 if counts.sum() > frames else 1
    phase = np.repeat(np.arange(PHASES_PER_ACTION), counts)
    along = np.concatenate([np.arange(c) / c for c in counts])
    return phase.astype(np.int64), along


def write_phase_synthetic(out: str | Path, spec: PhaseSynthSpec = PhaseSynthSpec()) -> Path:
    """Write the set under `out` (created); returns `out`."""
    from scipy.io import savemat

    out = Path(out)
    rng = np.random.default_rng(spec.seed)
    actions = list(ACTIONS)[: spec.num_classes]
    truth = {}
    for number in range(spec.n):
        action = actions[number % spec.num_classes]
        video_id = f"{number + 1:04d}"
        test = (number // spec.num_classes) % spec.test_every == spec.test_every - 1
        frames = int(rng.integers(spec.min_frames, spec.max_frames + 1))
        points = np.array(ACTIONS[action]) + rng.uniform(-0.05, 0.05, (PHASES_PER_ACTION + 1, 2))
        phase, along = phase_track(rng, frames)
        background = render_background(draw_background(rng, None, 1), spec.size).astype(np.float32)
        fg = draw_foreground(rng, "still")
        for t in range(frames):
            start, end = points[phase[t]], points[phase[t] + 1]
            centre = start + along[t] * (end - start)
            image = paint_at(background, fg, centre, spec.size)
            write_image(
                out / "frames" / video_id / f"{t + 1:06d}.jpg", np.clip(image, 0, 255).astype(np.uint8)
            )
        (out / "labels").mkdir(parents=True, exist_ok=True)
        savemat(
            out / "labels" / f"{video_id}.mat",
            {
                "action": action,
                "train": -1 if test else 1,
                "nframes": frames,
                "dimensions": [spec.size, spec.size, frames],
            },
        )
        phase_file = out / "phases" / ("val" if test else "train") / action / f"{video_id}.npy"
        phase_file.parent.mkdir(parents=True, exist_ok=True)
        np.save(phase_file, phase)
        truth[video_id] = {"action": action, "split": "val" if test else "train", "frames": frames}
    (out / "synth_gt.json").write_text(json.dumps(truth, indent=1))
    return out
