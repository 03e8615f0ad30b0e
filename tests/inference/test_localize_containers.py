"""`localize_video` and the overlay on AVI (mpeg4 with pcm or mp3 audio, as UCF101 ships) and MPEG-TS: the
peaks follow the object, the overlay plays with its audio (PCM, which mp4 cannot hold, re-encoded), and
heatmaps are blended on the frames of their own time even where the container's clock does not start at 0."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avssl.data.media_writer import VideoEncoding, write_video
from avssl.inference.localize import LocalizeOptions, localize_video
from avssl.inference.overlay import render_overlay

FPS, SECONDS, WIDTH, HEIGHT = 12, 3.0, 200, 120
ENCODINGS = {
    "clip.avi": VideoEncoding("mpeg4", 12, 0, audio_codec="pcm_s16le"),
    "clip_mp3.avi": VideoEncoding("mpeg4", 12, 0, audio_codec="libmp3lame"),
    "clip.ts": VideoEncoding(gop=24, audio_codec="aac"),
}


class BrightnessTask(torch.nn.Module):
    """localize(batch) = the mean brightness of the frame pooled to 8×8."""

    def localize(self, batch):
        return F.adaptive_avg_pool2d(batch["video"][:, :, 0].mean(1, keepdim=True), (8, 8))[:, 0]


def _moving_square(path, encoding):
    frames, boxes = [], []
    for k in range(int(SECONDS * FPS)):
        img = np.full((HEIGHT, WIDTH, 3), 20, np.uint8)
        x0 = int(10 + (WIDTH - 60) * k / (SECONDS * FPS))
        img[40:90, x0 : x0 + 50] = 250
        frames.append(img)
        boxes.append((x0, 40, x0 + 50, 90))
    sound = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(48000 * SECONDS)) / 48000))[None].astype(np.float32)
    write_video(path, frames, FPS, sound, 48000, encoding=encoding)
    return boxes


@pytest.mark.parametrize("name", ENCODINGS)
def test_localize_avi_and_ts(tmp_path, name):
    video = tmp_path / name
    boxes = _moving_square(video, ENCODINGS[name])
    out = localize_video(
        BrightnessTask(),
        {"data": {"size": 64}},
        video,
        tmp_path / "out",
        LocalizeOptions(window_s=1.0, stride_s=0.25, max_side=100),
    )
    peaks = json.loads((out / "peaks.json").read_text())["peaks"]
    inside = 0
    for p in peaks:
        x0, y0, x1, y1 = boxes[min(int(p["time"] * FPS), len(boxes) - 1)]
        inside += x0 - 6 <= p["x"] <= x1 + 6 and y0 - 6 <= p["y"] <= y1 + 6
    assert inside / len(peaks) >= 0.9
    with av.open(str(out / "overlay.mp4")) as b:
        assert sum(1 for _ in b.decode(video=0)) == len(boxes)
    with av.open(str(out / "overlay.mp4")) as b:
        assert sum(f.samples for f in b.decode(audio=0)) == pytest.approx(48000 * SECONDS, rel=0.03)


def test_overlay_blends_the_heatmap_of_the_frames_own_time_in_mpeg_ts(tmp_path):
    """The TS muxer starts its clock at 1.4 s and shifts video by the B-frame delay: frame k must still get
    the heatmap nearest k / fps, not the one nearest its raw timestamp."""
    video = tmp_path / "clip.ts"
    _moving_square(video, ENCODINGS["clip.ts"])
    times = np.array([0.0, 2.02])  # frames before 1.01 s get the first map (all ones), later ones nothing
    maps = np.stack([np.ones((4, 4)), np.zeros((4, 4))]).astype(np.float32)
    render_overlay(video, tmp_path / "overlay.mp4", times, maps)
    with av.open(str(tmp_path / "overlay.mp4")) as b:
        tinted = [
            float(
                (
                    f.to_ndarray(format="rgb24")[..., 0].astype(int) - f.to_ndarray(format="rgb24")[..., 2]
                ).mean()
            )
            > 30
            for f in b.decode(video=0)
        ]
    assert tinted == [k / FPS < 1.01 for k in range(len(tinted))]
