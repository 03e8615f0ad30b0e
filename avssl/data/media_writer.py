"""Write real encoded media (h264/aac mp4, wav, jpg/png) with PyAV, soundfile and Pillow.

Used by the synthetic dataset generator, the tests and the overlay renderer. Reading media lives in
`avssl.data.decoding`; this module only writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from PIL import Image


@dataclass(frozen=True)
class VideoEncoding:
    """How to encode a video file.

    `gop` is the keyframe interval in frames (YouTube-sourced datasets have long GOPs, ~250);
    `bframes` the maximum number of consecutive B-frames; `audio_rate` the audio sample rate;
    `audio_options` / `muxer_options` are FFmpeg options as (name, value) pairs, e.g.
    (("strict", "experimental"),) for FFmpeg's native vorbis encoder, (("avoid_negative_ts", "disabled"),)
    to keep every stream's timestamps as encoded (no shift of the whole file for an audio encoder delay).
    """

    codec: str = "libx264"
    gop: int = 250
    bframes: int = 3
    crf: int = 23
    preset: str = "veryfast"
    video_bitrate: int | None = None  # bits/s for codecs without crf (mpeg4 in AVI); None: FFmpeg's default
    audio_codec: str = "aac"
    audio_rate: int = 48000
    audio_bitrate: int = 128000
    faststart: bool = False
    audio_options: tuple[tuple[str, str], ...] = ()
    muxer_options: tuple[tuple[str, str], ...] = ()


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = 48000,
    encoding: VideoEncoding = VideoEncoding(),
    frame_times: Iterable[float] | None = None,
) -> Path:
    """Encode RGB uint8 frames (H, W, 3) and optional float audio (channels, samples) in [-1, 1].

    `frame_times` (seconds, increasing) makes a variable-frame-rate file: each frame gets that
    presentation time instead of k / fps. Audio is resampled by the encoder to `encoding.audio_rate`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "+faststart"} if encoding.faststart else {}
    options.update(dict(encoding.muxer_options))
    with av.open(str(path), mode="w", options=options) as container:
        vstream = None
        times = iter(frame_times) if frame_times is not None else None
        tick = Fraction(1, 90000) if times is not None else None
        astream = None
        if audio is not None:
            audio = np.asarray(audio, dtype=np.float32)
            if audio.ndim == 1:
                audio = audio[None]
            layout = "mono" if audio.shape[0] == 1 else "stereo"
            astream = container.add_stream(
                encoding.audio_codec,
                rate=encoding.audio_rate,
                layout=layout,
                options=dict(encoding.audio_options),
            )
            astream.bit_rate = encoding.audio_bitrate
        for index, frame in enumerate(frames):
            frame = np.ascontiguousarray(frame, dtype=np.uint8)
            if vstream is None:
                vstream = _add_video_stream(container, frame.shape, fps, encoding, tick)
            vframe = av.VideoFrame.from_ndarray(frame, format="rgb24")
            if times is not None:
                vframe.pts = round(next(times) / tick)
                vframe.time_base = tick
            else:
                vframe.pts = index
            for packet in vstream.encode(vframe):
                container.mux(packet)
        if vstream is not None:
            for packet in vstream.encode(None):
                container.mux(packet)
        if astream is not None:
            _encode_audio(container, astream, audio, sample_rate)
    return path


def _add_video_stream(container, shape, fps: float, encoding: VideoEncoding, tick: Fraction | None):
    rate = Fraction(fps).limit_denominator(1001)
    stream = container.add_stream(encoding.codec, rate=rate)
    stream.height, stream.width = shape[0], shape[1]
    stream.pix_fmt = "yuv420p"
    if tick is not None:
        stream.codec_context.time_base = tick
        stream.time_base = tick
    stream.codec_context.gop_size = encoding.gop
    stream.codec_context.max_b_frames = encoding.bframes
    if encoding.video_bitrate is not None:
        stream.bit_rate = encoding.video_bitrate
    if encoding.codec == "libx264":
        # keyint_min/scenecut pinned so the GOP is what was asked (x264 would add keyframes at cuts)
        stream.options = {
            "crf": str(encoding.crf),
            "preset": encoding.preset,
            "x264-params": f"keyint={encoding.gop}:min-keyint={encoding.gop}:scenecut=0:bframes={encoding.bframes}",
        }
    return stream


def _encode_audio(container, astream, audio: np.ndarray, sample_rate: int) -> None:
    layout = "mono" if audio.shape[0] == 1 else "stereo"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=astream.rate)
    chunk = 1024
    for offset in range(0, audio.shape[1], chunk):
        piece = np.ascontiguousarray(audio[:, offset : offset + chunk])
        frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = offset
        frame.time_base = Fraction(1, sample_rate)
        for resampled in resampler.resample(frame):
            for packet in astream.encode(resampled):
                container.mux(packet)
    for resampled in resampler.resample(None):
        for packet in astream.encode(resampled):
            container.mux(packet)
    for packet in astream.encode(None):
        container.mux(packet)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write float audio (channels, samples) in [-1, 1] as a wav file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    sf.write(str(path), np.clip(audio.T, -1.0, 1.0), sample_rate, subtype=subtype)
    return path


def write_image(path: str | Path, image: np.ndarray, quality: int = 95) -> Path:
    """Write an RGB (H, W, 3), RGBA (H, W, 4) or grayscale (H, W) uint8 image; format from the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if path.suffix.lower() in (".jpg", ".jpeg"):
        img.save(path, quality=quality)
    else:
        img.save(path)
    return path
