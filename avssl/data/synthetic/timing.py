"""Synthetic media with exact ground truth, written as real encoded files.

`write_timing_clip` makes a video whose frames show their own index (a row of black/white bit blocks that
survives compression and resizing) and flash every `flash_every` frames, with an audio click at each
flash. Decoding tests and benchmarks read it back and check frame timing and audio alignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avssl.data.media_writer import VideoEncoding, write_video

INDEX_BITS = 12


@dataclass(frozen=True)
class TimingClipSpec:
    """A timing clip: `vfr_jitter` > 0 moves frame k by a pseudo-random 0..jitter fraction of a period."""

    duration_s: float = 10.0
    fps: float = 25.0
    width: int = 320
    height: int = 240
    flash_every: int = 25
    audio_rate: int = 48000
    audio_channels: int = 2
    vfr_jitter: float = 0.0
    seed: int = 0


def frame_times_for(spec: TimingClipSpec) -> np.ndarray:
    """Presentation times of every frame of the clip (seconds)."""
    n = int(round(spec.duration_s * spec.fps))
    base = np.arange(n) / spec.fps
    if spec.vfr_jitter <= 0:
        return base
    rng = np.random.default_rng(spec.seed)
    # Jitter keeps order (< 1 period) and leaves frame 0 at 0; some gaps shrink, others grow: VFR.
    jitter = rng.uniform(0, spec.vfr_jitter, size=n) / spec.fps
    jitter[0] = 0.0
    return np.round((base + jitter) * 90000) / 90000


def index_frame(index: int, width: int, height: int, flash: bool) -> np.ndarray:
    """RGB frame showing `index` as INDEX_BITS blocks in the top half; the bottom half is white on a flash."""
    frame = np.full((height, width, 3), 60, dtype=np.uint8)
    block = width // INDEX_BITS
    for bit in range(INDEX_BITS):
        if (index >> bit) & 1:
            frame[: height // 2, bit * block : (bit + 1) * block] = 255
        else:
            frame[: height // 2, bit * block : (bit + 1) * block] = 0
    if flash:
        frame[height // 2 :] = 255
    return frame


def decode_index(frame: np.ndarray) -> int:
    """Inverse of `index_frame` on a decoded (possibly resized) RGB frame (H, W, 3)."""
    height, width = frame.shape[:2]
    block = width / INDEX_BITS
    gray = frame[: height // 2].astype(np.float32).mean(axis=2)
    value = 0
    for bit in range(INDEX_BITS):
        lo, hi = int(bit * block + block * 0.25), int(bit * block + block * 0.75)
        rows = slice(int(height * 0.1), int(height * 0.4))
        if gray[rows, lo : max(hi, lo + 1)].mean() > 127:
            value |= 1 << bit
    return value


def is_flash(frame: np.ndarray) -> bool:
    """Whether a decoded frame is a flash frame (bottom half white)."""
    height = frame.shape[0]
    return float(frame[height // 2 + height // 8 :].mean()) > 200


def click_times(spec: TimingClipSpec) -> np.ndarray:
    """Times (s) of the audio clicks = presentation times of the flash frames."""
    times = frame_times_for(spec)
    return times[:: spec.flash_every]


def timing_audio(spec: TimingClipSpec) -> np.ndarray:
    """Float audio (channels, samples): quiet noise plus a 2 ms click at each flash time."""
    n = int(round(spec.duration_s * spec.audio_rate))
    rng = np.random.default_rng(spec.seed + 1)
    audio = rng.normal(0, 0.005, size=(spec.audio_channels, n)).astype(np.float32)
    width = max(1, int(0.002 * spec.audio_rate))
    for t in click_times(spec):
        start = int(round(t * spec.audio_rate))
        audio[:, start : start + width] = 0.9
    return audio


def write_timing_clip(
    path: str | Path, spec: TimingClipSpec = TimingClipSpec(), encoding: VideoEncoding = VideoEncoding()
) -> Path:
    """Write the timing clip described by `spec` as an h264 + AAC mp4 (or as `encoding` says)."""
    times = frame_times_for(spec)
    frames = (
        index_frame(k, spec.width, spec.height, flash=k % spec.flash_every == 0) for k in range(len(times))
    )
    encoding = VideoEncoding(**{**encoding.__dict__, "audio_rate": spec.audio_rate})
    return write_video(
        path,
        frames,
        spec.fps,
        audio=timing_audio(spec),
        sample_rate=spec.audio_rate,
        encoding=encoding,
        frame_times=times if spec.vfr_jitter > 0 else None,
    )
