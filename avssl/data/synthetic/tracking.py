"""A synthetic tracking set in the OTB layout (`avssl synth --layout otb`; read by
`avssl.data.datasets.otb`).

Every sequence shows a textured target and a textured distractor (another shape, colours and texture)
moving along their own random piecewise-linear paths over a static textured background; the target's box is
known in every frame. Following the target means telling its appearance from the distractor's, which is
what tracking on frozen features measures.

Written: `<Sequence>/img/0001.jpg …` and `<Sequence>/groundtruth_rect.txt` (one `x,y,w,h` line per frame,
integer pixels, as OTB's files).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avssl.data.media_writer import write_image
from avssl.data.synthetic.action import draw_background, draw_foreground, paint_at, render_background


@dataclass(frozen=True)
class TrackSynthSpec:
    """`n` sequences of `frames` frames at `size` px."""

    n: int = 6
    size: int = 96
    frames: int = 24
    seed: int = 0


def _path(rng: np.random.Generator, frames: int, margin: float) -> np.ndarray:
    """(frames, 2) centres (fractions of the frame) along 3 random straight strokes."""
    points = rng.uniform(margin, 1 - margin, (4, 2))
    t = np.linspace(0, 3, frames, endpoint=False)
    k = np.minimum(t.astype(int), 2)
    along = (t - k)[:, None]
    return points[k] + along * (points[k + 1] - points[k])


def write_tracking_synthetic(out: str | Path, spec: TrackSynthSpec = TrackSynthSpec()) -> Path:
    """Write the set under `out` (created); returns `out`."""
    out = Path(out)
    rng = np.random.default_rng(spec.seed)
    for number in range(spec.n):
        folder = out / f"Synth{number + 1:02d}"
        background = render_background(draw_background(rng, None, 1), spec.size).astype(np.float32)
        target, distractor = draw_foreground(rng, "still"), draw_foreground(rng, "still")
        if distractor.shape == target.shape:  # a different shape as well as other colours
            distractor = dataclasses.replace(
                distractor, shape="disc" if target.shape == "square" else "square"
            )
        paths = [_path(rng, spec.frames, 0.2), _path(rng, spec.frames, 0.2)]
        lines = []
        for t in range(spec.frames):
            image = background.copy()
            for fg, path in ((distractor, paths[1]), (target, paths[0])):  # the target in front
                image = paint_at(image, fg, path[t], spec.size)
            write_image(folder / "img" / f"{t + 1:04d}.jpg", np.clip(image, 0, 255).astype(np.uint8))
            radius = target.params["radius"] * spec.size
            cx, cy = paths[0][t] * spec.size
            lines.append(f"{round(cx - radius)},{round(cy - radius)},{round(2 * radius)},{round(2 * radius)}")
        (folder / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return out
