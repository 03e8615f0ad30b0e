"""`avssl localize`: where the sound comes from in a user's own video, window by window.

For every window (length `window_s`, every `stride_s`) the frame at the window's centre and the window's
audio go through the trained task's `localize` (the frame is resized to the model's square input, so any
resolution and aspect ratio works; the map is resized back onto the frame). Long videos are streamed: each
window is decoded on its own (exact seek) and maps are written to a memory-mapped file, so memory does not
grow with the video's length. The task runs on `device` (default: the device its parameters are on).
Outputs per video, in `OUT/<name>/` (the video's stem; `<stem>-<hash of its path>` when that folder holds
another video's outputs, see :func:`avssl.outputs.claim_output_dir`), each written atomically:

- `heatmaps.npz`: `heatmaps` (T, H, W) float32 in [0, 1] (min-max per map; H, W = the frame scaled so its
  longer side is at most `max_side`, stated in `scale`), `times` (T,) seconds (window centres), `scale`;
- `overlay.mp4`: every frame with the nearest heatmap blended, the original audio, same fps and duration;
- `peaks.json`: per time `time`, `x`, `y` (pixels of the original frame), `score` (the map's maximum before
  normalising: a cosine, or with the run's `model.render` the rendered map's largest value), `box` [x0, y0, x1, y1] (pixels) of the connected region around the peak where the map ≥ 0.5.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from tqdm import tqdm

from avssl.data.decoding import MediaError, probe, read_clip
from avssl.device import module_device
from avssl.evaluation.localization_predict import localization_predictor
from avssl.inference.eval_input import fit_audio, run_audio_rule
from avssl.inference.load import run_frame_input
from avssl.inference.overlay import render_overlay
from avssl.outputs import claim_output_dir, save_npz, write_json


@dataclass
class LocalizeOptions:
    """Windowing and output options of `avssl localize`."""

    window_s: float = 1.0
    stride_s: float = 0.5
    batch_size: int = 8
    max_side: int = 320
    overlay: bool = True
    ogl_alpha: float | None = None  # EZ-VSL: object-guided localization with this alpha


def window_starts(duration_s: float, window_s: float, stride_s: float) -> list[float]:
    """Starts covering [0, duration]: every stride, plus a last window ending at the end."""
    if duration_s <= window_s:
        return [0.0]
    starts = list(np.arange(0.0, duration_s - window_s + 1e-9, stride_s))
    if duration_s - window_s - starts[-1] > 1e-6:
        starts.append(duration_s - window_s)
    return [float(s) for s in starts]


def peak_and_box(heatmap: np.ndarray, scale: float) -> tuple[float, float, list[float]]:
    """Peak (x, y) and the box of the ≥ 0.5 region containing it, in original-frame pixels."""
    y, x = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    labels, _ = ndimage.label(heatmap >= 0.5)
    ys, xs = np.nonzero(labels == labels[y, x])
    box = [xs.min() / scale, ys.min() / scale, (xs.max() + 1) / scale, (ys.max() + 1) / scale]
    return (x + 0.5) / scale, (y + 0.5) / scale, [round(float(v), 1) for v in box]


@torch.no_grad()
def _maps(predict, frames: torch.Tensor, audio: torch.Tensor, frame_input: Callable, device) -> torch.Tensor:
    batch = {
        "video": frame_input(frames).unsqueeze(2).to(device),
        "audio": audio.to(device),
    }  # (B, 3, 1, s, s)
    return predict(batch).float().cpu()  # (B, h, w)


def _store_maps(
    raw: np.ndarray, times: list[float], maps: np.ndarray, first: int, scale: float
) -> list[dict]:
    """Raw (B, h, w) maps resized onto the frame, min-max normalised into `maps[first:first + B]`; their
    peaks (see the module docstring)."""
    peaks = []
    for k, m in enumerate(raw):
        resized = F.interpolate(
            torch.from_numpy(m)[None, None], size=maps.shape[1:], mode="bilinear", align_corners=False
        )[0, 0].numpy()
        lo, hi = resized.min(), resized.max()
        norm = (resized - lo) / (hi - lo) if hi > lo else np.zeros_like(resized)
        maps[first + k] = norm
        x, y, box = peak_and_box(norm, scale)
        peaks.append(
            {
                "time": round(times[k], 4),
                "x": round(x, 1),
                "y": round(y, 1),
                "score": float(m.max()),
                "box": box,
            }
        )
    return peaks


def _centre(start: float, window_s: float, duration_s: float) -> float:
    """Offset of a window's frame from its start: the window's centre, or for a window running past the end
    of the video (a video shorter than the window) the centre of the part inside it."""
    return min(window_s, max(duration_s - start, 0.0)) / 2 if duration_s > 0 else window_s / 2


def open_av_input(video: Path, run_config: dict, verb: str) -> tuple[dict, tuple[int, int, int]]:
    """`probe(video)` after checking it has both a video and an audio stream (else MediaError naming the
    file), and the run's (frame size, sample rate, audio channels)."""
    info = probe(video)
    if not info["has_video"]:
        raise MediaError(video, "has no video stream")
    if not info["has_audio"]:
        raise MediaError(video, f"has no audio stream: there is no sound to {verb}")
    data = run_config.get("data", {})
    return info, (
        int(data.get("size", 224)),
        int(data.get("sample_rate", 16000)),
        int(data.get("channels", 1)),
    )


def localize_video(
    task,
    run_config: dict,
    video: str | Path,
    out_dir: str | Path,
    options: LocalizeOptions = LocalizeOptions(),
    device: str | torch.device | None = None,
) -> Path:
    """Localize the sounding regions of `video`; write heatmaps.npz, overlay.mp4 and peaks.json into the
    returned folder. `device`: where the task's inputs go (None: the task's own device)."""
    video = Path(video)
    device = module_device(task) if device is None else device
    predict = localization_predictor(task, options.ogl_alpha)
    info, (_, rate, channels) = open_av_input(video, run_config, "localize")
    frame_input = run_frame_input(run_config)
    audio_rule = run_audio_rule(run_config)  # a published model's test code tiles short audio
    duration = float(info["duration_s"] or options.window_s)
    starts = window_starts(duration, options.window_s, options.stride_s)
    scale = min(1.0, options.max_side / max(info["width"], info["height"]))
    height, width = max(1, round(info["height"] * scale)), max(1, round(info["width"] * scale))
    out = claim_output_dir(out_dir, video)
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        maps = np.lib.format.open_memmap(
            Path(scratch) / "maps.npy", mode="w+", dtype=np.float32, shape=(len(starts), height, width)
        )
        peaks = []
        for first in tqdm(range(0, len(starts), options.batch_size), desc=video.name, leave=False):
            chunk = starts[first : first + options.batch_size]
            # one decode per window: the frame at the window's centre and the window's audio
            clips = [
                read_clip(
                    video,
                    s,
                    options.window_s,
                    fps=1.0 / options.window_s,
                    size=None,
                    sample_rate=rate,
                    channels=channels,
                    video_offset_s=_centre(s, options.window_s, duration),
                )
                for s in chunk
            ]
            audio = torch.stack([fit_audio(c.audio, c.num_valid_samples, audio_rule) for c in clips])
            raw = _maps(predict, torch.cat([c.frames[:1] for c in clips]), audio, frame_input, device)
            times = [s + _centre(s, options.window_s, duration) for s in chunk]
            peaks += _store_maps(raw.numpy(), times, maps, first, scale)
        times = np.array([p["time"] for p in peaks])
        save_npz(out / "heatmaps.npz", heatmaps=maps, times=times, scale=np.float32(scale))
        write_json(
            out / "peaks.json",
            {"video": str(video), "width": info["width"], "height": info["height"], "peaks": peaks},
        )
        if options.overlay:
            render_overlay(video, out / "overlay.mp4", times, maps)
        del maps
    return out
