"""`localize_video` on real encoded media with a stand-in task whose map is the frame's brightness: the
peaks follow a moving bright square; the overlay decodes with the source's frame count, duration and audio."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avssl.data.decoding import MediaError
from avssl.data.media_writer import write_video
from avssl.inference.localize import LocalizeOptions, localize_video, window_starts


class BrightnessTask(torch.nn.Module):
    """localize(batch) = the (un-normalised) mean brightness of the frame pooled to 8×8."""

    def localize(self, batch):
        frame = batch["video"][:, :, 0]  # (B, 3, H, W)
        return F.adaptive_avg_pool2d(frame.mean(1, keepdim=True), (8, 8))[:, 0]


def _moving_square(path, seconds=3.0, fps=12, width=200, height=120, audio=True):
    frames, boxes = [], []
    for k in range(int(seconds * fps)):
        img = np.full((height, width, 3), 20, np.uint8)
        x0 = int(10 + (width - 60) * k / (seconds * fps))
        img[40:90, x0 : x0 + 50] = 250
        frames.append(img)
        boxes.append((x0, 40, x0 + 50, 90))
    sound = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(48000 * seconds)) / 48000))[None].astype(np.float32)
    write_video(path, frames, fps, sound if audio else None, 48000)
    return boxes, fps


def test_window_starts_cover_the_video():
    assert window_starts(3.2, 1.0, 0.5)[-1] == pytest.approx(2.2)
    assert window_starts(0.6, 1.0, 0.5) == [0.0]


def test_peaks_follow_the_object_and_overlay_plays(tmp_path):
    video = tmp_path / "clip.mp4"
    boxes, fps = _moving_square(video)
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
        x0, y0, x1, y1 = boxes[min(int(p["time"] * fps), len(boxes) - 1)]
        inside += x0 - 6 <= p["x"] <= x1 + 6 and y0 - 6 <= p["y"] <= y1 + 6
    assert inside / len(peaks) >= 0.9
    data = np.load(out / "heatmaps.npz")
    assert data["heatmaps"].shape == (len(peaks), 60, 100) and data["heatmaps"].max() <= 1.0
    with av.open(str(video)) as a, av.open(str(out / "overlay.mp4")) as b:
        src = [f.time for f in a.decode(video=0)]
        dst = [f.time for f in b.decode(video=0)]
        assert len(dst) == len(src) and dst[-1] == pytest.approx(src[-1], abs=1e-3)
        assert b.streams.audio and b.streams.video[0].average_rate == a.streams.video[0].average_rate


def test_video_without_audio_is_a_clear_error(tmp_path):
    video = tmp_path / "silent.mp4"
    _moving_square(video, seconds=1.0, audio=False)
    with pytest.raises(MediaError, match="no audio stream"):
        localize_video(BrightnessTask(), {"data": {"size": 64}}, video, tmp_path / "out")


class RecordingTask(torch.nn.Module):
    """localize(batch) records the model input it is given."""

    def __init__(self):
        super().__init__()
        self.inputs = []

    def localize(self, batch):
        self.inputs.append(batch["video"])
        return torch.zeros(batch["video"].shape[0], 4, 4)


def test_the_model_input_is_normalised_as_the_run_was(tmp_path):
    """The frame input is rebuilt from the run's config (its eval pipeline's normalize step), not assumed."""
    video = tmp_path / "clip.mp4"
    _moving_square(video, seconds=1.0)
    half = [0.5, 0.5, 0.5]
    inputs = {}
    for name, data in [
        ("imagenet", {"size": 32}),  # no pipeline in the config: the schema's default (ImageNet statistics)
        (
            "half",
            {
                "size": 32,
                "eval_transforms": [{"name": "resize"}, {"name": "normalize", "mean": half, "std": half}],
            },
        ),
    ]:
        task = RecordingTask()
        localize_video(task, {"data": data}, video, tmp_path / name, LocalizeOptions(overlay=False))
        inputs[name] = torch.cat(task.inputs)
    background = 20 / 255  # the frame's corner pixel, before normalisation
    corner = {name: x[0, :, 0, 0, 0] for name, x in inputs.items()}
    torch.testing.assert_close(corner["half"], torch.full((3,), (background - 0.5) / 0.5), atol=0.02, rtol=0)
    imagenet = (background - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(corner["imagenet"], imagenet, atol=0.05, rtol=0)
