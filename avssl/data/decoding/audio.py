"""Audio windows from any audio or video file, resampled and aligned to the sample."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from avssl.data.decoding.common import (
    _SOUNDFILE_SUFFIXES,
    MediaError,
    MemoryFile,
    Source,
    _check_file,
    _declared_end,
    _media_errors,
    _open,
    _seek,
    _stream_start,
    media_origin,
)

_AUDIO_PREROLL_S = 0.2
# MP3 in AVI: the stream starts with LAME's encoder delay (576 samples) and the Layer III synthesis
# filterbank's decoder delay (528 + 1) — 1105 samples before the first real one (the LAME technical FAQ;
# FFmpeg's mp3 demuxer skips the same count when an .mp3 file's LAME tag records it). AVI has no field
# for it (no edit list, no codec delay), so every player hears the audio ~23 ms late; we skip it.
_MP3_DELAY_SAMPLES = 576 + 529
# Extra samples on each side of the window for the resampling filter's support.
_RESAMPLE_MARGIN_S = 0.02


def read_audio(
    path: Source,
    start_s: float,
    duration_s: float,
    *,
    sample_rate: int = 16000,
    channels: int = 1,
) -> tuple[torch.Tensor, int]:
    """Audio of [start_s, start_s + duration_s) of any audio or video file: float32 (channels, samples)
    at `sample_rate` and the number of samples that lie inside the file (the rest is zero padding)."""
    audio, valid = read_audio_array(_check_file(path), start_s, duration_s, sample_rate, channels)
    return torch.from_numpy(audio), valid


def read_audio_array(path: Source, start_s, duration_s, sample_rate, channels) -> tuple[np.ndarray, int]:
    path = _check_file(path)
    if duration_s <= 0:
        raise MediaError(path, f"window duration must be positive, got {duration_s}")
    if path.suffix.lower() in _SOUNDFILE_SUFFIXES:
        return _soundfile_audio(path, start_s, duration_s, sample_rate, channels)
    with _open(path) as container, _media_errors(path, "audio decoding"):
        if not container.streams.audio:
            raise MediaError(path, "has no audio stream")
        return container_audio(container, path, start_s, duration_s, sample_rate, channels)


def _window_bounds(start_s: float, duration_s: float, rate: int) -> tuple[int, int]:
    """First and one-past-last native sample of the window with resampling margins."""
    margin = math.ceil(_RESAMPLE_MARGIN_S * rate)
    first = round(start_s * rate) - margin
    return first, round((start_s + duration_s) * rate) + margin


def _soundfile_audio(path: Path, start_s, duration_s, sample_rate, channels) -> tuple[np.ndarray, int]:
    try:
        with sf.SoundFile(path if isinstance(path, MemoryFile) else str(path)) as f:
            rate, total = f.samplerate, f.frames
            first, stop = _window_bounds(start_s, duration_s, rate)
            if first >= total:
                raise MediaError(
                    path,
                    f"window starts at {start_s:.3f} s, after the end of the audio ({total / rate:.3f} s)",
                )
            f.seek(max(first, 0))
            data = f.read(stop - max(first, 0), dtype="float32", always_2d=True).T  # (C, n)
    except sf.LibsndfileError as err:
        raise MediaError(path, f"not a readable audio file ({err.error_string})") from None
    except RuntimeError as err:
        raise MediaError(path, f"not a readable audio file ({err})") from None
    if first < 0:
        data = np.concatenate([np.zeros((data.shape[0], -first), np.float32), data], axis=1)
    return _finish_audio(data, rate, first, total, (start_s, duration_s), (sample_rate, channels))


def _codec_delay(container, stream) -> int:
    """Samples at the start of the decoded stream that precede its first real sample and that the
    container does not mark (mp4 edit lists, Matroska / Ogg codec delay are applied by FFmpeg itself)."""
    if container.format.name == "avi" and stream.codec_context.name in ("mp3", "mp3float"):
        return _MP3_DELAY_SAMPLES
    return 0


def container_audio(
    container, path: Path, start_s, duration_s, sample_rate, channels
) -> tuple[np.ndarray, int]:
    stream = container.streams.audio[0]
    rate = stream.codec_context.sample_rate or stream.rate
    if not rate:
        raise MediaError(path, "audio stream has no sample rate")
    origin = media_origin(container)
    start_abs = start_s + origin  # container time of the window's first sample
    first, stop = _window_bounds(start_abs, duration_s, rate)
    stream_start = _stream_start(stream)
    delay = _codec_delay(container, stream)
    seek_s = start_abs - _AUDIO_PREROLL_S - delay / rate
    for _attempt in range(4):
        _seek(container, stream, seek_s, path)
        with _media_errors(path, "audio decoding"):
            pieces, begin, ended = _decode_audio(container, stream, (stop, rate), delay)
        # The first decoded frame after a seek is unreliable (AAC warm-up): it must lie before the window.
        if begin is None or begin + (pieces[0].shape[1] if pieces else 0) <= first or seek_s <= stream_start:
            break
        seek_s -= 1.0 + 2.0 * _attempt
    if begin is None:
        end = _declared_end(container, stream)
        if end is not None and start_abs < end:
            raise MediaError(
                path,
                f"no audio decodes at {start_s:.2f} s although the file declares "
                f"{end - origin:.2f} s (truncated or corrupt)",
            )
        raise MediaError(path, f"window starts at {start_s:.3f} s, after the end of the audio")
    data = np.concatenate(pieces, axis=1)
    end_sample = begin + data.shape[1]
    # Align the decoded run to the window's first native sample (pad before the stream start).
    if begin > first:
        data = np.concatenate([np.zeros((data.shape[0], begin - first), np.float32), data], axis=1)
    else:
        data = data[:, first - begin :]
    total = end_sample if ended else stop
    if ended and first >= total:
        raise MediaError(
            path,
            f"window starts at {start_s:.3f} s, after the end of the audio ({total / rate - origin:.3f} s)",
        )
    return _finish_audio(data, rate, first, total, (start_abs, duration_s), (sample_rate, channels))


def _decode_audio(container, stream, end: tuple[int, int], delay: int):
    """Decoded native-rate float32 pieces (C, n) from the seek point until sample `stop`, end = (stop,
    rate); the run's first sample index (in samples of container time, `delay` samples earlier than the
    decoder's timestamps say); and whether the stream ended before `stop`."""
    stop, rate = end
    pieces: list[np.ndarray] = []
    begin = None
    position = None
    for frame in _decoded_frames(container, stream):
        frame_start = round(frame.time * rate) - delay
        array = _frame_to_float(frame)
        if begin is None:
            begin = position = frame_start
        elif frame_start != position:  # gap or overlap in the stream: follow the timestamps
            if frame_start > position:
                pieces.append(np.zeros((array.shape[0], frame_start - position), np.float32))
            else:
                array = array[:, position - frame_start :]
            position = max(position, frame_start)
        pieces.append(array)
        position += array.shape[1]
        if position >= stop:
            return pieces, begin, False
    return pieces, begin, True


def _decoded_frames(container, stream):
    """Audio frames with a timestamp from the seek point on. Packets that do not decode before the first
    frame that does are skipped: in a stream without an index (MPEG-PS/TS) a seek can land inside a
    frame, whose tail is invalid data; a decoding error after that is a real one."""
    started = False
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            if started:
                raise
            continue
        for frame in frames:
            started = True
            if frame.pts is not None:
                yield frame


def _frame_to_float(frame) -> np.ndarray:
    array = frame.to_ndarray()
    fmt = frame.format
    channels = len(frame.layout.channels)
    if not fmt.is_planar:
        array = array.reshape(-1, channels).T
    if array.dtype == np.int16:
        return array.astype(np.float32) / 32768.0
    if array.dtype == np.int32:
        return array.astype(np.float32) / 2147483648.0
    if array.dtype == np.uint8:
        return (array.astype(np.float32) - 128.0) / 128.0
    return array.astype(np.float32, copy=False)


def _finish_audio(
    data: np.ndarray, rate: int, first: int, total: int, window, target
) -> tuple[np.ndarray, int]:
    """Mix channels, zero what lies outside the file, resample, trim the margins to the exact window."""
    start_s, duration_s = window
    sample_rate, channels = target
    want = round((start_s + duration_s) * rate) + math.ceil(_RESAMPLE_MARGIN_S * rate) - first
    if data.shape[1] < want:
        data = np.concatenate([data, np.zeros((data.shape[0], want - data.shape[1]), np.float32)], axis=1)
    data = data[:, :want]
    if total - first < want:
        data[:, max(total - first, 0) :] = 0.0
    data = _mix(data, channels)
    n_out = round(duration_s * sample_rate)
    if rate != sample_rate:
        tensor = AF.resample(torch.from_numpy(np.ascontiguousarray(data)), rate, sample_rate)
        data = tensor.numpy()
    margin_out = round((round(start_s * rate) - first) * sample_rate / rate)
    out = np.ascontiguousarray(data[:, margin_out : margin_out + n_out], dtype=np.float32)
    if out.shape[1] < n_out:
        out = np.concatenate([out, np.zeros((out.shape[0], n_out - out.shape[1]), np.float32)], axis=1)
    valid_end = min(n_out, math.floor((total / rate - start_s) * sample_rate))
    valid_begin = max(0, math.ceil(-start_s * sample_rate))
    return out, max(0, valid_end - valid_begin)


def _mix(data: np.ndarray, channels: int) -> np.ndarray:
    if channels == data.shape[0]:
        return data
    if channels == 1:
        return data.mean(axis=0, keepdims=True)
    if channels == 2:
        return np.repeat(data, 2, axis=0) if data.shape[0] == 1 else data[:2]
    raise ValueError(f"channels must be 1 or 2, got {channels}")
