"""`avssl segment`: masks of the sounding objects in a user's own video, from a trained `avs` run.

The video is cut into windows of the run's clip length (`data.duration_s`, 5 s for AVSBench) holding
`duration_s · fps` frames (one per second by default, each at the centre of its second) and the window's
audio; each window goes through `task.segment` (frames resized to the model's square input, masks resized
back). A last window ending at the video's end covers the tail; frames it shares with the previous window
are not repeated; a video shorter than one window is analysed with its valid frames and their audio.
Windows are decoded one at a time (exact seek) and masks are written to a memory-mapped file, so memory
does not grow with the video's length. Outputs in `OUT/<name>/`:

- `masks.npz`: `masks` (T, H, W) float32 probabilities (H, W = the frame scaled so its longer side is at
  most `max_side`, stated in `scale`), `times` (T,) seconds of the analysed frames, `scale`;
- `overlay.mp4`: every frame with the nearest mask blended (:func:`avssl.inference.overlay.render_overlay`),
  the original audio stream copied back;
- `frames.json`: per analysed frame `time`, `area` (fraction of the frame where p > 0.5) and `centroid`
  [x, y] of that region in original-frame pixels (null when empty).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from avssl.data.decoding import read_clip
from avssl.inference.load import FrameInput, run_frame_input
from avssl.inference.localize import open_av_input, window_starts
from avssl.inference.overlay import render_overlay


@dataclass
class SegmentOptions:
    """Output options of `avssl segment`."""

    max_side: int = 320
    overlay: bool = True


def clip_input(frames: torch.Tensor, frame_input: FrameInput) -> torch.Tensor:
    """uint8 (T, H, W, 3) frames → normalised model input (1, 3, T, size, size)."""
    return frame_input(frames).permute(1, 0, 2, 3).unsqueeze(0)


def frame_stats(prob: np.ndarray, scale: float, time: float) -> dict:
    """Area share and centroid (original-frame pixels) of the p > 0.5 region of one (H, W) mask."""
    region = prob > 0.5
    ys, xs = np.nonzero(region)
    centroid = (
        None
        if len(xs) == 0
        else [round(float(xs.mean() + 0.5) / scale, 1), round(float(ys.mean() + 0.5) / scale, 1)]
    )
    return {"time": round(time, 4), "area": round(float(region.mean()), 5), "centroid": centroid}


def _windows(duration: float, window_s: float, frames: int) -> list[tuple[float, list[int]]]:
    """(start, indices of the window's frames to keep) per window; frames already covered are dropped."""
    out, last_time = [], -1.0
    step = window_s / frames
    for start in window_starts(duration, window_s, window_s):
        keep = [
            k
            for k in range(frames)
            if start + (k + 0.5) * step > last_time + 1e-6 and start + k * step < duration
        ]
        if keep:
            out.append((start, keep))
            last_time = start + (keep[-1] + 0.5) * step
    return out


@torch.no_grad()
def segment_video(
    task, run_config: dict, video: str | Path, out_dir: str | Path, options: SegmentOptions = SegmentOptions()
) -> Path:
    """Segment the sounding objects of `video`; write masks.npz, overlay.mp4 and frames.json."""
    video = Path(video)
    info, (_, rate, channels) = open_av_input(video, run_config, "segment")
    frame_input = run_frame_input(run_config)
    data = run_config.get("data", {})
    window_s = float(data.get("duration_s", 5.0))
    frames = max(1, round(window_s * float(data.get("fps", 1.0))))
    duration = float(info["duration_s"] or window_s)
    windows = _windows(duration, window_s, frames)
    scale = min(1.0, options.max_side / max(info["width"], info["height"]))
    height, width = max(1, round(info["height"] * scale)), max(1, round(info["width"] * scale))
    out = Path(out_dir) / video.stem
    out.mkdir(parents=True, exist_ok=True)
    total = sum(len(keep) for _, keep in windows)
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        masks = np.lib.format.open_memmap(
            Path(scratch) / "m.npy", mode="w+", dtype=np.float32, shape=(total, height, width)
        )
        stats, n = [], 0
        for start, keep in tqdm(windows, desc=video.name, leave=False):
            clip = read_clip(
                video, start, window_s, fps=frames / window_s, size=None, sample_rate=rate,
                channels=channels, video_offset_s=0.5 * window_s / frames,
            )  # fmt: skip
            got = clip.frames[: max(1, clip.num_valid_frames)]
            audio = clip.audio[:, : round(len(got) * rate * window_s / frames)]  # the valid frames' seconds
            probs = task.segment({"video": clip_input(got, frame_input), "audio": audio[None]})[0]  # (T', s, s)
            probs = F.interpolate(
                probs[:, None].float(), size=(height, width), mode="bilinear", align_corners=False
            )
            for k in keep:
                if k >= len(got):
                    continue
                masks[n] = probs[k, 0].numpy()
                stats.append(frame_stats(masks[n], scale, start + (k + 0.5) * window_s / frames))
                n += 1
        times = np.array([s["time"] for s in stats])
        np.savez(out / "masks.npz", masks=masks[:n], times=times, scale=np.float32(scale))
        (out / "frames.json").write_text(
            json.dumps(
                {"video": str(video), "width": info["width"], "height": info["height"], "frames": stats},
                indent=1,
            )
        )
        if options.overlay:
            render_overlay(video, out / "overlay.mp4", times, masks[:n])
        del masks
    return out
