"""`probe`: duration, frame rate, size and audio facts of a media file; truncated-wav detection."""

from __future__ import annotations

import os
from pathlib import Path

import soundfile as sf

from avssl.data.decoding.common import (
    _SOUNDFILE_SUFFIXES,
    MediaError,
    MemoryFile,
    Source,
    _check_file,
    _declared_end,
    _frame_period,
    _media_errors,
    _open,
    media_origin,
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
    with _open(path) as container, _media_errors(path, "probing"):
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
        out["duration_s"] = max(known) - media_origin(container) if known else None
        return out
