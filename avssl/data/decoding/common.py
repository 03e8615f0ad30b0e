"""Shared types and helpers of the decoding package: errors, clips, sources, seeking."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import torch

_SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif"}
# MPEG transport / program streams time their packets on a running 90 kHz system clock that starts anywhere
# (1.4 s after FFmpeg's muxer, hours into a broadcast): their time 0 is the first video frame's time.
_CLOCK_FORMATS = {"mpegts", "mpeg"}


class MediaError(Exception):
    """A media file cannot be read as asked. The message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


Size = int | tuple[int, int] | None


@dataclass
class Clip:
    """The frames and audio of one window.

    frames: uint8 (T, H, W, 3) RGB, or None when video was not asked for.
    frame_times: float64 (T,) presentation times (s) of the returned frames.
    audio: float32 (channels, samples) in [-1, 1], or None.
    """

    path: str
    start_s: float
    duration_s: float
    frames: torch.Tensor | None = None
    frame_times: torch.Tensor | None = None
    audio: torch.Tensor | None = None
    sample_rate: int = 0
    num_valid_frames: int = 0
    num_valid_samples: int = 0
    padded: bool = False
    info: dict = field(default_factory=dict)


def num_frames_for(duration_s: float, fps: float) -> int:
    """Number of frames sampled from a window: max(1, round(duration * fps))."""
    return max(1, round(duration_s * fps))


def target_times(start_s: float, duration_s: float, fps: float) -> np.ndarray:
    """t_k = start + k / fps for k < num_frames_for(duration, fps)."""
    return start_s + np.arange(num_frames_for(duration_s, fps)) / fps


def output_size(width: int, height: int, size: Size) -> tuple[int, int]:
    """(width, height) after resizing: `size` int = shorter side (aspect kept), (H, W) = exact."""
    if size is None:
        return width, height
    if isinstance(size, int):
        scale = size / min(width, height)
        return max(1, round(width * scale)), max(1, round(height * scale))
    return int(size[1]), int(size[0])


class MemoryFile(io.BytesIO):
    """Media bytes held in memory (e.g. a member of a tar shard); `name` is used in messages and to pick
    the reader by suffix. Every reading function accepts one wherever it accepts a path."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    def __str__(self) -> str:
        return self.name


Source = str | os.PathLike | MemoryFile


def _check_file(path: Source) -> Path | MemoryFile:
    if isinstance(path, MemoryFile):
        if not path.getbuffer().nbytes:
            raise MediaError(path, "empty file (0 bytes)")
        path.seek(0)
        return path
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "file not found")
    if path.is_dir():
        raise MediaError(path, "is a directory, expected a media file")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    return path


def _open(path: Path):
    try:
        return av.open(path if isinstance(path, MemoryFile) else str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as err:
        raise MediaError(path, f"not a readable media file ({_reason(err)})") from None


def _reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err)


@contextmanager
def _media_errors(path: Source, what: str) -> Iterator[None]:
    """Turn any FFmpeg / PyAV error (av.error.*, and the OSErrors a demuxer raises) into a MediaError
    naming the file: `what` says what failed ("video decoding", "audio decoding", "probing")."""
    try:
        yield
    except (av.error.FFmpegError, OSError) as err:
        raise MediaError(path, f"{what} failed ({type(err).__name__}: {_reason(err)})") from None


def media_origin(container) -> float:
    """The container time (s) that is time 0 of the media: 0, except for MPEG-TS/PS (see _CLOCK_FORMATS),
    where it is the first video frame's time (the first audio packet's when there is no video)."""
    if container.format.name not in _CLOCK_FORMATS:
        return 0.0
    for stream in (*container.streams.video, *container.streams.audio):
        if stream.start_time is not None and stream.time_base is not None:
            return float(stream.start_time * stream.time_base)
    return container.start_time / 1e6 if container.start_time is not None else 0.0


def _stream_start(stream) -> float:
    """The stream's first timestamp (s); 0 when the container does not say."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _declared_end(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        return start + float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6
    return None


def _frame_period(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return 1.0 / float(rate) if rate else 1 / 25


def _seek(container, stream, time_s: float, path: Source) -> None:
    """Seek `stream` to the keyframe at or before container time `time_s`.

    A target before the stream's first timestamp is first tried as it is: it reaches the AAC priming
    packet (pts < 0) that an mp4 edit list hides, and seeking to the start itself would skip it (the
    first audio frame then decodes wrong). A container that refuses a seek (AVI: FFmpeg's index seek fails
    with EPERM before the first index entry; files without a usable index) is sought to the stream's first
    timestamp instead: decoding forward from there reaches any window, only slower."""
    try:
        container.seek(
            int(math.floor(time_s / stream.time_base)), stream=stream, backward=True, any_frame=False
        )
        return
    except av.error.FFmpegError:
        pass
    try:
        container.seek(stream.start_time or 0, stream=stream, backward=True, any_frame=False)
    except av.error.FFmpegError as err:
        raise MediaError(path, f"cannot seek in the file, not even to its start ({_reason(err)})") from None
