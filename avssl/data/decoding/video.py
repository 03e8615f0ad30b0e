"""Video windows: `read_clip` (frames by nearest PTS + the aligned audio window)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from avssl.data.decoding.audio import container_audio, read_audio_array
from avssl.data.decoding.common import (
    Clip,
    MediaError,
    Size,
    Source,
    _check_file,
    _declared_end,
    _frame_period,
    _media_errors,
    _open,
    _seek,
    _stream_start,
    media_origin,
    output_size,
    target_times,
)


def read_clip(
    path: Source,
    start_s: float,
    duration_s: float,
    *,
    fps: float = 8.0,
    size: Size = None,
    sample_rate: int | None = 16000,
    channels: int = 1,
    audio_path: Source | None = None,
    with_video: bool = True,
    threads: int = 1,
    video_offset_s: float = 0.0,
) -> Clip:
    """Decode the frames and the audio of [start_s, start_s + duration_s) of a video file.

    fps: frames per second sampled from the window; size: None (native), int (shorter side) or (H, W);
    sample_rate: audio rate returned (None = no audio); channels: 1 (mixed down) or 2 (binaural);
    audio_path: a sidecar audio file (e.g. a 16 kHz wav) read instead of the container's audio;
    threads: decoder threads (1 inside DataLoader workers, more for a single process on large frames);
    video_offset_s: frame targets are shifted by this much against the audio window (t_k = start +
    offset + k / fps): 0.5 with a 1 s window and fps 1 gives the frame at the audio window's centre;
    other values make the A/V offsets of synchronisation tasks.
    Raises MediaError naming the file and the problem.
    """
    path = _check_file(path)
    if duration_s <= 0:
        raise MediaError(path, f"window duration must be positive, got {duration_s}")
    clip = Clip(path=str(path), start_s=float(start_s), duration_s=float(duration_s))
    with _open(path) as container, _media_errors(path, "decoding"):
        if with_video:
            _read_video_into(clip, container, path, (fps, video_offset_s), size, threads)
        if sample_rate is not None and audio_path is None:
            if not container.streams.audio:
                raise MediaError(path, "has no audio stream (pass an audio_path sidecar or sample_rate=None)")
            audio, valid = container_audio(container, path, start_s, duration_s, sample_rate, channels)
            _set_audio(clip, audio, valid, sample_rate)
    if sample_rate is not None and audio_path is not None:
        audio, valid = read_audio_array(audio_path, start_s, duration_s, sample_rate, channels)
        _set_audio(clip, audio, valid, sample_rate)
    return clip


def _set_audio(clip: Clip, audio: np.ndarray, valid: int, sample_rate: int) -> None:
    clip.audio = torch.from_numpy(audio)
    clip.sample_rate = sample_rate
    clip.num_valid_samples = valid
    clip.padded = clip.padded or valid < audio.shape[1]


def _read_video_into(
    clip: Clip, container, path: Path, timing: tuple[float, float], size: Size, threads: int
) -> None:
    if not container.streams.video:
        raise MediaError(path, "has no video stream")
    stream = container.streams.video[0]
    fps, offset = timing
    # targets, PTS and the declared end are container times
    origin = media_origin(container) + _avi_reorder_delay(container, stream)
    targets = target_times(clip.start_s + offset, clip.duration_s, fps) + origin
    end = _declared_end(container, stream)
    if end is not None and targets[0] >= end:
        raise MediaError(
            path,
            f"window starts at {targets[0] - origin:.3f} s, after the end of the video ({end - origin:.3f} s)",
        )
    if threads > 1:
        stream.thread_type = "AUTO"
    # FFmpeg's default (0) means one thread per core: in DataLoader workers that only adds switching
    stream.thread_count = threads
    chosen = _pick_frames(container, stream, path, targets)
    if not chosen:
        declared = f" although the file declares {end - origin:.2f} s (truncated or corrupt)" if end else ""
        raise MediaError(path, f"no video frame decodes at {targets[0] - origin:.2f} s{declared}")
    frames, times = _convert(chosen, size)
    last_time = float(times[-1])
    period = _frame_period(stream)
    valid = int(np.sum(targets < last_time + period - 1e-9))
    if end is not None and valid < len(targets) and last_time + period < min(targets[-1], end) - 2 * period:
        raise MediaError(
            path,
            f"truncated: the video declares {end - origin:.2f} s but frames end at {last_time - origin:.2f} s",
        )
    clip.frames = torch.from_numpy(frames)
    clip.frame_times = torch.from_numpy(times - origin)
    clip.num_valid_frames = valid
    clip.padded = clip.padded or valid < len(targets) or targets[0] < float(times[0]) - period / 2
    clip.info["source_fps"] = 1.0 / period


def _avi_reorder_delay(container, stream) -> float:
    """Seconds by which FFmpeg times the frames of a B-frame video in AVI late. AVI stores frames in
    decode order with no timestamps (a frame's DTS is its index); the decoder returns each frame paired with
    a packet `reorder depth` frames later, so frame k comes out at (k + depth) / fps. Players undo it the
    same way (mpv shifts genuine-AVI video back by the codec delay); other containers carry real PTS."""
    if container.format.name != "avi":
        return 0.0
    ctx = stream.codec_context
    depth = int(getattr(ctx, "reorder_depth", int(ctx.has_b_frames)))  # reorder_depth: PyAV >= 15
    return depth * _frame_period(stream)


def _pick_frames(container, stream, path: Path, targets: np.ndarray) -> list:
    """Nearest decoded frame (av.VideoFrame) per target time, in order; fewer if the stream ends early."""
    period = _frame_period(stream)
    first = float(targets[0])
    # Frames this long before the window are never the nearest one: skip decoding their non-reference
    # frames (the decoder still decodes every reference frame, so later pictures stay exact).
    skip_before = first - max(1.0, 3 * period)
    start = _stream_start(stream)
    seek_to = first - period
    for attempt in range(4):
        at_start = seek_to <= start or attempt == 3
        # a second before the first timestamp: a timestamp search (MPEG-TS) asked for the start itself
        # can land on a later keyframe; a container that refuses the target is sought to its start
        _seek(container, stream, start - 1.0 if at_start else seek_to, path)
        with _media_errors(path, "video decoding"):
            chosen, first_time = _scan(container, stream, targets, skip_before)
        # With B-frames, or in a container without an index (MPEG-TS: a seek by timestamp search), the
        # demuxer can land after the asked time or past the last keyframe: seek again, earlier, at last
        # to the start of the stream (from there decoding forward reaches every frame).
        if at_start or (first_time is not None and first_time <= first - period / 2):
            return chosen
        seek_to = seek_to - 1.0 - (attempt * 2.0)
    return chosen


def _scan(container, stream, targets: np.ndarray, skip_before: float):
    tb = float(stream.time_base)
    ctx = stream.codec_context
    chosen: list = []
    prev = None
    first_time = None
    k = 0
    ctx.skip_frame = "DEFAULT"
    for packet in container.demux(stream):
        if packet.pts is not None and packet.dts is not None:
            ctx.skip_frame = "NONREF" if packet.pts * tb < skip_before else "DEFAULT"
        for frame in packet.decode():
            if frame.pts is None:
                continue
            t = frame.time
            if first_time is None:
                first_time = t
            while k < len(targets) and t >= targets[k]:
                use_prev = prev is not None and (targets[k] - prev.time) < (t - targets[k])
                chosen.append(prev if use_prev else frame)
                k += 1
            prev = frame
            if k == len(targets):
                ctx.skip_frame = "DEFAULT"
                return chosen, first_time
    ctx.skip_frame = "DEFAULT"
    if prev is not None:
        chosen.extend([prev] * (len(targets) - k))
    return chosen, first_time


def _convert(chosen: list, size: Size) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 (T, H, W, 3) of the chosen frames (each distinct frame converted once) and their times."""
    width, height = output_size(chosen[0].width, chosen[0].height, size)
    cache: dict[int, np.ndarray] = {}
    out = np.empty((len(chosen), height, width, 3), dtype=np.uint8)
    for i, frame in enumerate(chosen):
        key = id(frame)
        if key not in cache:
            cache[key] = frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="AREA")
        out[i] = cache[key]
    return out, np.array([f.time for f in chosen], dtype=np.float64)
