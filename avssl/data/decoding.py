"""Exact, fast media decoding: the frames and the audio of one time window, aligned.

This is the only module that reads media (PyAV for containers, soundfile for wav/flac, Pillow for
images). Every dataset goes through `read_clip` (videos, optional wav sidecar), `read_image_audio`
(Flickr-SoundNet / VGG-SS style image + wav) or `read_frames` + `read_audio` (AVSBench frame folders).

Timing contract of `read_clip(path, start_s, duration_s, fps=...)`:
- T = max(1, round(duration_s * fps)) target times t_k = start_s + k / fps; for each, the decoded frame
  whose presentation time (PTS) is nearest to t_k (ties go to the later frame), so constant and variable
  frame rates are handled alike and every returned frame lies within half a source frame of its target.
- audio sample n is the signal at start_s + n / sample_rate, n < round(duration_s * sample_rate).
- parts of the window outside the media are padded (video: nearest frame; audio: zeros) and reported
  in `Clip.padded`, `num_valid_frames`, `num_valid_samples`; a window entirely outside is an error.

Speed: seek to the keyframe before the window, decode forward only as far as needed, skip decoding
non-reference frames long before the window (their pixels are never used), convert only the chosen
frames to RGB with in-decoder scaling. Audio is read from a wav sidecar when one is given (exact seek,
~30x cheaper than AAC), else from the container with a second, earlier seek (the first AAC frame after
a seek decodes wrong, so it is never used).
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from PIL import Image, UnidentifiedImageError

# Decoded audio before the window that we discard: covers the AAC warm-up frame after a seek.
_AUDIO_PREROLL_S = 0.2
# Extra samples on each side of the window for the resampling filter's support.
_RESAMPLE_MARGIN_S = 0.02
_SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif"}


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
    except av.error.FFmpegError as err:
        raise MediaError(path, f"not a readable media file ({_reason(err)})") from None


def _reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err)


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
    with _open(path) as container:
        if with_video:
            _read_video_into(clip, container, path, (fps, video_offset_s), size, threads)
        if sample_rate is not None and audio_path is None:
            if not container.streams.audio:
                raise MediaError(path, "has no audio stream (pass an audio_path sidecar or sample_rate=None)")
            audio, valid = _container_audio(container, path, start_s, duration_s, sample_rate, channels)
            _set_audio(clip, audio, valid, sample_rate)
    if sample_rate is not None and audio_path is not None:
        audio, valid = _read_audio_array(audio_path, start_s, duration_s, sample_rate, channels)
        _set_audio(clip, audio, valid, sample_rate)
    return clip


def _set_audio(clip: Clip, audio: np.ndarray, valid: int, sample_rate: int) -> None:
    clip.audio = torch.from_numpy(audio)
    clip.sample_rate = sample_rate
    clip.num_valid_samples = valid
    clip.padded = clip.padded or valid < audio.shape[1]


# ----------------------------------------------------------------------------------------------- video


def _declared_end(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        return start + float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6
    return None


def _read_video_into(clip: Clip, container, path: Path, timing: tuple[float, float], size: Size, threads: int) -> None:
    if not container.streams.video:
        raise MediaError(path, "has no video stream")
    stream = container.streams.video[0]
    fps, offset = timing
    targets = target_times(clip.start_s + offset, clip.duration_s, fps)
    end = _declared_end(container, stream)
    if end is not None and targets[0] >= end:
        raise MediaError(
            path, f"window starts at {targets[0]:.3f} s, after the end of the video ({end:.3f} s)"
        )
    if threads > 1:
        stream.thread_type = "AUTO"
    # FFmpeg's default (0) means one thread per core: in DataLoader workers that only adds switching
    stream.thread_count = threads
    chosen = _pick_frames(container, stream, path, targets)
    if not chosen:
        declared = f" although the file declares {end:.2f} s (truncated or corrupt)" if end else ""
        raise MediaError(path, f"no video frame decodes at {targets[0]:.2f} s{declared}")
    frames, times = _convert(chosen, size)
    last_time = float(times[-1])
    period = _frame_period(stream)
    valid = int(np.sum(targets < last_time + period - 1e-9))
    if end is not None and valid < len(targets) and last_time + period < min(targets[-1], end) - 2 * period:
        raise MediaError(
            path, f"truncated: the video declares {end:.2f} s but frames end at {last_time:.2f} s"
        )
    clip.frames = torch.from_numpy(frames)
    clip.frame_times = torch.from_numpy(times)
    clip.num_valid_frames = valid
    clip.padded = clip.padded or valid < len(targets) or targets[0] < float(times[0]) - period / 2
    clip.info["source_fps"] = 1.0 / period


def _frame_period(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return 1.0 / float(rate) if rate else 1 / 25


def _seek(container, stream, time_s: float) -> None:
    # No clamping at 0: a negative target reaches the AAC priming packet (pts < 0) that an mp4 edit list
    # hides; seeking to 0 itself skips it and the first audio frame then decodes wrong.
    offset = int(math.floor(time_s / stream.time_base)) + (stream.start_time or 0)
    container.seek(offset, stream=stream, backward=True, any_frame=False)


def _pick_frames(container, stream, path: Path, targets: np.ndarray) -> list:
    """Nearest decoded frame (av.VideoFrame) per target time, in order; fewer if the stream ends early."""
    period = _frame_period(stream)
    first = float(targets[0])
    # Frames this long before the window are never the nearest one: skip decoding their non-reference
    # frames (the decoder still decodes every reference frame, so later pictures stay exact).
    skip_before = first - max(1.0, 3 * period)
    seek_to = first - period
    for _attempt in range(4):
        _seek(container, stream, seek_to)
        try:
            chosen, first_time = _scan(container, stream, targets, skip_before)
        except av.error.FFmpegError as err:
            raise MediaError(path, f"video decoding failed ({_reason(err)})") from None
        # With B-frames the demuxer can land after the asked time: seek again, earlier.
        if first_time is None or first_time <= first - period / 2 or seek_to <= 0:
            return chosen
        seek_to = seek_to - 1.0 - (_attempt * 2.0)
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


# ----------------------------------------------------------------------------------------------- audio


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
    audio, valid = _read_audio_array(_check_file(path), start_s, duration_s, sample_rate, channels)
    return torch.from_numpy(audio), valid


def _read_audio_array(path: Source, start_s, duration_s, sample_rate, channels) -> tuple[np.ndarray, int]:
    path = _check_file(path)
    if duration_s <= 0:
        raise MediaError(path, f"window duration must be positive, got {duration_s}")
    if path.suffix.lower() in _SOUNDFILE_SUFFIXES:
        return _soundfile_audio(path, start_s, duration_s, sample_rate, channels)
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError(path, "has no audio stream")
        return _container_audio(container, path, start_s, duration_s, sample_rate, channels)


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


def _container_audio(
    container, path: Path, start_s, duration_s, sample_rate, channels
) -> tuple[np.ndarray, int]:
    stream = container.streams.audio[0]
    rate = stream.codec_context.sample_rate or stream.rate
    if not rate:
        raise MediaError(path, "audio stream has no sample rate")
    first, stop = _window_bounds(start_s, duration_s, rate)
    stream_start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    seek_s = start_s - _AUDIO_PREROLL_S
    for _attempt in range(4):
        _seek(container, stream, seek_s - stream_start)
        try:
            pieces, begin, ended = _decode_audio(container, stream, first, stop, rate)
        except av.error.FFmpegError as err:
            raise MediaError(path, f"audio decoding failed ({_reason(err)})") from None
        # The first decoded frame after a seek is unreliable (AAC warm-up): it must lie before the window.
        if begin is None or begin + (pieces[0].shape[1] if pieces else 0) <= first or seek_s <= stream_start:
            break
        seek_s -= 1.0 + 2.0 * _attempt
    if begin is None:
        end = _declared_end(container, stream)
        if end is not None and start_s < end:
            raise MediaError(
                path,
                f"no audio decodes at {start_s:.2f} s although the file declares "
                f"{end:.2f} s (truncated or corrupt)",
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
            path, f"window starts at {start_s:.3f} s, after the end of the audio ({total / rate:.3f} s)"
        )
    return _finish_audio(data, rate, first, total, (start_s, duration_s), (sample_rate, channels))


def _decode_audio(container, stream, first: int, stop: int, rate: int):
    """Decoded native-rate float32 pieces (C, n) from the seek point until `stop`; the run's first sample
    index; and whether the stream ended before `stop`."""
    pieces: list[np.ndarray] = []
    begin = None
    position = None
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        frame_start = round(frame.time * rate)
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


# ---------------------------------------------------------------------------------------------- images


def read_image(path: Source, size: Size = None) -> torch.Tensor:
    """An image file as RGB uint8 (H, W, 3); grayscale, palette and RGBA images are converted to RGB."""
    path = _check_file(path)
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            width, height = output_size(img.width, img.height, size)
            if (width, height) != img.size:
                img = img.resize((width, height), Image.BILINEAR, reducing_gap=None)
            return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise MediaError(path, f"not a readable image ({err})") from None


def read_frames(paths: list[Source], size: Size = None) -> torch.Tensor:
    """A list of image files (e.g. an AVSBench frame folder) as uint8 (T, H, W, 3); all the same size."""
    if not paths:
        raise ValueError("read_frames needs at least one image path")
    frames = [read_image(paths[0], size)]
    shape = frames[0].shape[:2]
    for p in paths[1:]:
        image = read_image(p, size if size is not None else (shape[0], shape[1]))
        frames.append(image)
    return torch.stack(frames)


def read_masks(
    paths: list[str | os.PathLike | None], size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary masks (T, H, W) uint8 from mask images (any non-zero pixel = 1) and a (T,) bool tensor
    saying which exist (None entries give an all-zero mask marked False). A mask whose size differs from
    `size` (H, W) is an error: masks are never silently resized."""
    masks = torch.zeros((len(paths), *size), dtype=torch.uint8)
    valid = torch.zeros(len(paths), dtype=torch.bool)
    for t, path in enumerate(paths):
        if path is None:
            continue
        path = _check_file(path)
        try:
            with Image.open(path) as img:
                array = np.asarray(img.convert("L"))
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise MediaError(path, f"not a readable mask image ({err})") from None
        if array.shape != tuple(size):
            raise MediaError(
                path, f"mask is {array.shape[1]}x{array.shape[0]}, its frame is {size[1]}x{size[0]}"
            )
        masks[t] = torch.from_numpy((array > 0).astype(np.uint8))
        valid[t] = True
    return masks, valid


def read_image_audio(
    image_path: Source,
    audio_path: str | os.PathLike,
    start_s: float,
    duration_s: float,
    *,
    size: Size = None,
    sample_rate: int = 16000,
    channels: int = 1,
) -> Clip:
    """A still frame and an audio window (Flickr-SoundNet / VGG-SS test layout) as a one-frame Clip."""
    frames = read_image(image_path, size)[None]
    audio, valid = read_audio(audio_path, start_s, duration_s, sample_rate=sample_rate, channels=channels)
    return Clip(
        path=str(image_path),
        start_s=float(start_s),
        duration_s=float(duration_s),
        frames=frames,
        frame_times=torch.tensor([float(start_s)], dtype=torch.float64),
        audio=audio,
        sample_rate=sample_rate,
        num_valid_frames=1,
        num_valid_samples=valid,
        padded=valid < audio.shape[1],
        info={"audio_path": str(audio_path)},
    )


def _wav_declared_bytes(path: Path) -> tuple[int, int] | None:
    """(declared, present) byte counts of a RIFF/WAVE file's data chunk, or None if not a plain wav."""
    with path.open("rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            size = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                start = f.tell()
                return size, path.stat().st_size - start
            f.seek(size + (size & 1), os.SEEK_CUR)


def probe(path: Source) -> dict:
    """Duration, frame rate, size and audio facts of a media file (for indexing and check-data)."""
    path = _check_file(path)
    if path.suffix.lower() in _SOUNDFILE_SUFFIXES:
        try:
            info = sf.info(path if isinstance(path, MemoryFile) else str(path))
        except (sf.LibsndfileError, RuntimeError) as err:
            raise MediaError(path, f"not a readable audio file ({err})") from None
        sizes = (
            _wav_declared_bytes(path) if path.suffix.lower() == ".wav" and isinstance(path, Path) else None
        )
        if sizes is not None and sizes[0] != 0xFFFFFFFF and sizes[1] < sizes[0]:
            raise MediaError(
                path, f"truncated: the wav header declares {sizes[0]} bytes of audio, the file has {sizes[1]}"
            )
        return {
            "duration_s": info.frames / info.samplerate,
            "has_video": False,
            "has_audio": True,
            "sample_rate": info.samplerate,
            "channels": info.channels,
        }
    with _open(path) as container:
        out: dict = {"has_video": bool(container.streams.video), "has_audio": bool(container.streams.audio)}
        durations = []
        if container.streams.video:
            v = container.streams.video[0]
            out.update(width=v.codec_context.width, height=v.codec_context.height, fps=1.0 / _frame_period(v))
            durations.append(_declared_end(container, v))
        if container.streams.audio:
            a = container.streams.audio[0]
            out.update(sample_rate=a.codec_context.sample_rate, channels=a.codec_context.channels)
            durations.append(_declared_end(container, a))
        known = [d for d in durations if d is not None]
        out["duration_s"] = max(known) if known else None
        return out
