"""Render a heatmap track onto a video a person can watch: every frame of the source, the heatmap of the
nearest analysed time blended on it, the original audio stream copied back (no re-encoding), same frame
rate and duration. Reading goes through PyAV here because the whole stream is re-encoded frame by frame.
Audio an mp4 cannot hold (PCM from an AVI, Vorbis from a WebM) is re-encoded as AAC; frame times count from
the media's time 0 (`media_origin`: MPEG-TS clocks start anywhere), as the analysed `times` do."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avssl.data.decoding import MediaError
from avssl.data.decoding.common import media_origin

# Audio codecs an mp4 holds as they are (ISO/IEC 14496-14 and the registered mp4 codec tags); others are
# re-encoded as AAC.
_MP4_AUDIO = {"aac", "mp3", "mp3float", "mp2", "mp2float", "ac3", "eac3", "opus", "flac", "alac"}

# A perceptual blue→cyan→yellow→red ramp (5 stops), interpolated linearly.
_STOPS = np.array([[0, 0, 130], [0, 120, 255], [40, 220, 200], [255, 220, 0], [230, 20, 0]], dtype=np.float32)


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] (H, W) to RGB uint8 (H, W, 3)."""
    x = np.clip(values, 0.0, 1.0) * (len(_STOPS) - 1)
    lo = np.floor(x).astype(int).clip(0, len(_STOPS) - 2)
    frac = (x - lo)[..., None]
    return ((1 - frac) * _STOPS[lo] + frac * _STOPS[lo + 1]).astype(np.uint8)


def _resize_map(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a (h, w) map to (height, width) with half-pixel centres."""
    h, w = heatmap.shape
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = heatmap[y0][:, x0] * (1 - fx) + heatmap[y0][:, x1] * fx
    bottom = heatmap[y1][:, x0] * (1 - fx) + heatmap[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def blend(frame: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Frame (H, W, 3) uint8 with the heatmap (any h×w, values in [0, 1]) blended where it is strong."""
    height, width = frame.shape[:2]
    values = _resize_map(heatmap.astype(np.float32), height, width)
    weight = (alpha * values)[..., None]
    return (frame * (1 - weight) + colormap(values) * weight).astype(np.uint8)


def render_overlay(
    video: str | Path, out: str | Path, times: np.ndarray, heatmaps: np.ndarray, alpha: float = 0.5
) -> Path:
    """Write `out` (mp4: h264 + the source's audio stream, copied when mp4 can hold it): each frame blended
    with the heatmap whose time is nearest the frame's presentation time. `heatmaps` (T, h, w) in [0, 1],
    `times` (T,). Any FFmpeg error raises MediaError naming `video`."""
    out = Path(out)
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    try:
        src = av.open(str(video))
    except (av.error.FFmpegError, OSError) as err:
        raise MediaError(video, f"not a readable media file ({err})") from None
    try:
        with src, av.open(str(tmp), mode="w") as dst:
            _transcode(src, dst, np.asarray(times) + media_origin(src), (heatmaps, alpha))
    except (av.error.FFmpegError, OSError) as err:
        tmp.unlink(missing_ok=True)
        raise MediaError(video, f"writing the overlay failed ({type(err).__name__}: {err})") from None
    tmp.replace(out)
    return out


def _transcode(src, dst, times: np.ndarray, blending: tuple[np.ndarray, float]) -> None:
    """Video re-encoded with the heatmaps blended (`times` in container time); audio copied or re-encoded."""
    heatmaps, alpha = blending
    vin = src.streams.video[0]
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    vout = dst.add_stream("libx264", rate=rate)
    vout.width, vout.height = vin.codec_context.width // 2 * 2, vin.codec_context.height // 2 * 2
    vout.pix_fmt = "yuv420p"
    vout.options = {"crf": "20", "preset": "veryfast"}
    ain = src.streams.audio[0] if src.streams.audio else None
    copy = ain is not None and ain.codec_context.name in _MP4_AUDIO
    aout = None
    if ain is not None:
        aout = (
            dst.add_stream_from_template(ain)
            if copy
            else dst.add_stream("aac", rate=ain.codec_context.sample_rate, layout=_layout(ain))
        )
    if aout is not None and not copy:
        aout.format = "fltp"  # FFmpeg's AAC encoder takes planar float; PyAV converts decoded frames to it
    for packet in src.demux(*[s for s in (vin, ain) if s is not None]):
        if packet.stream is ain:
            _audio_packet(dst, packet, aout, copy)
            continue
        for frame in packet.decode():
            _encode_frame(dst, vout, frame, times, heatmaps, alpha)
    for encoded in vout.encode(None):
        dst.mux(encoded)
    if aout is not None and not copy:
        for encoded in aout.encode(None):
            dst.mux(encoded)


def _layout(stream) -> str:
    """mono or stereo by the stream's channel count (PCM in AVI declares only a count, not a layout, which
    the AAC encoder refuses); PyAV mixes more channels down to stereo as it encodes."""
    return "mono" if stream.codec_context.layout.nb_channels == 1 else "stereo"


def _audio_packet(dst, packet, aout, copy: bool) -> None:
    if copy:
        if packet.dts is not None:
            packet.stream = aout
            dst.mux(packet)
        return
    for frame in packet.decode():
        for encoded in aout.encode(frame):
            dst.mux(encoded)


def _encode_frame(dst, vout, frame, times: np.ndarray, heatmaps: np.ndarray, alpha: float) -> None:
    image = frame.to_ndarray(format="rgb24")[: vout.height, : vout.width]
    t = frame.time if frame.time is not None else 0.0
    k = int(np.argmin(np.abs(times - t)))
    new = av.VideoFrame.from_ndarray(blend(image, heatmaps[k], alpha), format="rgb24")
    new.pts, new.time_base = frame.pts, frame.time_base
    for encoded in vout.encode(new):
        dst.mux(encoded)
