"""`avssl localize` on a video unlike our synthetic ones: a pan over a real photograph (scikit-learn's
bundled `china.jpg`), encoded here with PyAV's own libx264 defaults (B-frames), NTSC 30000/1001 fps, an odd
426×240 frame and 44.1 kHz stereo AAC — the overlay must decode with the source's frame count, duration,
frame rate and an audio stream, and the heat maps cover every window."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import sklearn  # in the dev extra (librosa needs it too): its bundled photos are real JPEGs
from PIL import Image

from avssl.cli import main as cli
from avssl.config import load_config, save_config
from avssl.runner.specs import recipe_schema
from avssl.tasks import build_task
from avssl.train.checkpoint import export_model

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "avssl" / "configs" / "demo_ssl_tie.yaml"


def _photo() -> np.ndarray:
    return np.asarray(Image.open(Path(sklearn.__file__).parent / "datasets" / "images" / "china.jpg"))


def _pan_video(path: Path, seconds: float = 2.5, width: int = 426, height: int = 240) -> None:
    """A camera pan across the photo with a chirp + noise soundtrack, in a camera-like encoding."""
    photo = _photo()  # (427, 640, 3)
    rate = Fraction(30000, 1001)
    n = int(seconds * rate)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=44100, layout="stereo")
        for k in range(n):
            x = int((photo.shape[1] - 2 * width) * k / n)
            crop = Image.fromarray(photo[60 : 60 + 2 * height, x : x + 2 * width]).resize((width, height))
            for packet in video.encode(av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        t = np.arange(int(44100 * seconds)) / 44100
        rng = np.random.default_rng(0)
        wave = 0.3 * np.sin(2 * np.pi * (300 + 400 * t) * t) + 0.02 * rng.normal(size=t.size)
        stereo = np.stack([wave, 0.5 * wave]).astype(np.float32)
        for start in range(0, stereo.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                stereo[:, start : start + 1024].copy(), format="fltp", layout="stereo"
            )
            frame.sample_rate = 44100
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)


def _untrained_run(run: Path) -> None:
    """A run directory as training leaves it (resolved config + exported weights) for the demo's model."""
    cfg = load_config(recipe_schema("ssl_tie"), DEMO_CONFIG, [f"output_dir={run}"])
    save_config(cfg, run / "config.yaml")
    export_model(build_task("ssl_tie", cfg.model), run)


def test_localize_a_camera_like_video_of_a_real_photo(tmp_path, capsys):
    video, run = tmp_path / "pan.mp4", tmp_path / "run"
    _pan_video(video)
    _untrained_run(run)
    assert cli(["localize", str(video), "--run", str(run), "--out", str(tmp_path / "out")]) == 0
    result = tmp_path / "out" / "pan"
    with av.open(str(video)) as a, av.open(str(result / "overlay.mp4")) as b:
        assert a.streams.video[0].codec_context.has_b_frames or a.streams.video[0].codec_context.max_b_frames
        src = [f.time for f in a.decode(video=0)]
        dst = [f.time for f in b.decode(video=0)]
        assert len(dst) == len(src) and dst[-1] == pytest.approx(src[-1], abs=1e-3)
        assert b.streams.video[0].average_rate == a.streams.video[0].average_rate
        assert b.streams.audio and b.streams.audio[0].channels == 2
        assert (b.streams.video[0].width, b.streams.video[0].height) == (426, 240)
    maps = np.load(result / "heatmaps.npz")
    peaks = json.loads((result / "peaks.json").read_text())["peaks"]
    assert len(peaks) == len(maps["times"]) == maps["heatmaps"].shape[0] >= 3
    assert np.isfinite(maps["heatmaps"]).all() and 0 <= maps["heatmaps"].min() <= maps["heatmaps"].max() <= 1
    assert all(0 <= p["x"] < 426 and 0 <= p["y"] < 240 for p in peaks)
