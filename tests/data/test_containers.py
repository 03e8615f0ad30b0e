"""The containers users have besides mp4 — AVI (UCF101 / HMDB51: mpeg4 with mp3 or pcm audio), Matroska,
WebM, QuickTime, MPEG-TS — decode with read_clip's exactness: every frame within half a frame of its
target (as a whole-file decode numbers them), audio within 10 ms; any FFmpeg error is a MediaError naming
the file, and a training dataset counts it as a bad item."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avssl.cli import main
from avssl.data.datasets.base import BadItem, ClipDataset, ClipItem, ClipSpec
from avssl.data.decoding import MediaError, probe, read_clip, target_times
from avssl.data.media_writer import VideoEncoding
from avssl.data.synthetic.timing import (
    TimingClipSpec,
    click_times,
    decode_index,
    frame_times_for,
    write_timing_clip,
)

_KEEP_TIMESTAMPS = (("avoid_negative_ts", "disabled"),)  # as encoders that write AVI directly do
_VORBIS = (("strict", "experimental"),)  # FFmpeg's native vorbis encoder

FORMATS = {
    "avi_mpeg4_mp3": (
        "avi",
        VideoEncoding("mpeg4", 12, 0, audio_codec="libmp3lame", muxer_options=_KEEP_TIMESTAMPS),
    ),
    "avi_mpeg4_pcm": ("avi", VideoEncoding("mpeg4", 25, 0, audio_codec="pcm_s16le")),
    "avi_mpeg4_bframes_mp3": ("avi", VideoEncoding("mpeg4", 50, 2, audio_codec="libmp3lame")),
    "mkv_h264_aac": ("mkv", VideoEncoding(gop=50, audio_codec="aac")),
    "mkv_h264_opus": ("mkv", VideoEncoding(gop=50, audio_codec="libopus")),
    "webm_vp8_vorbis": ("webm", VideoEncoding("libvpx", 50, 0, audio_codec="vorbis", audio_options=_VORBIS)),
    "webm_vp9_opus": ("webm", VideoEncoding("libvpx-vp9", 50, 0, audio_codec="libopus")),
    "mov_h264_aac": ("mov", VideoEncoding(gop=50, audio_codec="aac")),
    "ts_h264_aac": ("ts", VideoEncoding(gop=50, audio_codec="aac")),
    "ts_mpeg2_mp2": ("ts", VideoEncoding("mpeg2video", 12, 2, audio_codec="mp2")),
}
SPEC = TimingClipSpec(duration_s=4.0, width=192, height=144)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("containers")
    return {
        name: write_timing_clip(root / f"{name}.{ext}", SPEC, enc) for name, (ext, enc) in FORMATS.items()
    }


def _windows(seed: int) -> list[float]:
    return [0.0, *np.random.default_rng(seed).uniform(0.0, SPEC.duration_s - 1.1, size=5)]


@pytest.mark.parametrize("name", FORMATS)
def test_frames_within_half_a_frame_and_audio_within_10ms(clips, name):
    times, clicks = frame_times_for(SPEC), click_times(SPEC)
    for start in _windows(seed=7):
        clip = read_clip(clips[name], start, 1.0, fps=8, size=(72, 96))
        targets = target_times(start, 1.0, 8)
        assert clip.frames.shape == (8, 72, 96, 3) and clip.audio.shape == (1, 16000)
        for k, frame in enumerate(clip.frames.numpy()):
            index = decode_index(frame)
            assert abs(times[index] - targets[k]) <= 0.5 / SPEC.fps + 1e-6, f"{name} start={start:.3f} k={k}"
            assert abs(clip.frame_times[k].item() - times[index]) < 1e-3, f"{name}: frame time vs content"
        assert not clip.padded
        inside = [c for c in clicks if start <= c < start + 0.95]
        if inside:
            lag = _click_lag_ms(clip.audio.numpy()[0], start, clicks)
            assert abs(lag) < 10.0, f"{name} start={start:.3f}: audio lag {lag:.2f} ms"


def _click_lag_ms(audio: np.ndarray, start: float, clicks: np.ndarray, rate: int = 16000) -> float:
    """Lag (ms) of the returned audio against the window's ideal click train (cross-correlation)."""
    ideal = np.zeros_like(audio)
    for c in clicks:
        pos = int(round((c - start) * rate))
        if 0 <= pos < len(ideal) - 32:
            ideal[pos : pos + 32] = 1.0
    lags = np.arange(-int(0.05 * rate), int(0.05 * rate) + 1)
    signal = np.abs(audio)
    scores = [
        np.dot(signal[max(0, g) : len(signal) + min(0, g)], ideal[max(0, -g) : len(ideal) + min(0, -g)])
        for g in lags
    ]
    return 1000.0 * lags[int(np.argmax(scores))] / rate


@pytest.mark.parametrize("name", ["avi_mpeg4_mp3", "ts_h264_aac", "mkv_h264_opus"])
def test_probe_and_window_at_the_end(clips, name):
    info = probe(clips[name])
    assert info["has_video"] and info["has_audio"] and abs(info["duration_s"] - SPEC.duration_s) < 0.1
    clip = read_clip(clips[name], SPEC.duration_s - 0.5, 1.0, fps=8, size=(72, 96))
    assert clip.padded and 3 <= clip.num_valid_frames <= 5
    last = len(frame_times_for(SPEC)) - 1
    assert decode_index(clip.frames[-1].numpy()) == last


def test_cli_decode_avi_from_the_start(clips, capsys):
    """`avssl decode x.avi --start 0` died with av.error.PermissionError (a seek before the first index entry)."""
    assert main(["decode", str(clips["avi_mpeg4_mp3"]), "--start", "0"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frame_times"][0] == 0.0 and summary["audio"][0] == 1


def _damaged_index(clips, tmp_path):
    """An AVI whose idx1 index entries are overwritten: FFmpeg cannot seek in it at all."""
    data = bytearray(clips["avi_mpeg4_pcm"].read_bytes())
    at = data.find(b"idx1")
    data[at + 8 : at + 8 + 400] = b"\xff" * 400
    path = tmp_path / "damaged_index.avi"
    path.write_bytes(bytes(data))
    return path


def test_ffmpeg_errors_are_media_errors_naming_the_file(clips, tmp_path):
    damaged = _damaged_index(clips, tmp_path)
    with pytest.raises(MediaError, match="damaged_index.avi: cannot seek"):
        read_clip(damaged, 0.0, 1.0, fps=4, size=(36, 48))
    assert main(["decode", str(damaged), "--start", "0"]) == 2


def test_training_dataset_counts_an_unreadable_avi_as_a_bad_item(clips, tmp_path):
    damaged = _damaged_index(clips, tmp_path)
    items = [
        ClipItem(id="good", path=str(clips["avi_mpeg4_mp3"]), start_s=0.0, end_s=1.0),
        ClipItem(id="damaged", path=str(damaged), start_s=0.0, end_s=1.0),
    ]
    spec = ClipSpec(duration_s=1.0, fps=4, size=(32, 32))
    sample = ClipDataset(items, spec, mode="train", seed=0)[(1, 0)]
    bad = sample if isinstance(sample, BadItem) else sample["replaced"][0]
    assert bad.index == 1 and "damaged_index.avi" in bad.reason
    with pytest.raises(MediaError):
        ClipDataset(items, spec, mode="eval")[1]


def test_check_data_on_a_folder_of_containers(clips, tmp_path, capsys):
    """`avssl check-data --layout folder` reads every container; the damaged AVI is the one problem."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("avi_mpeg4_mp3", "mkv_h264_opus", "webm_vp9_opus", "mov_h264_aac", "ts_h264_aac"):
        (folder / clips[name].name).write_bytes(clips[name].read_bytes())
    assert main(["check-data", str(folder), "--layout", "folder", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == 5
    _damaged_index(clips, folder)
    assert main(["check-data", str(folder), "--layout", "folder", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    messages = [m for found in report["problems"].values() for m in found]
    assert len(messages) == 1 and "damaged_index.avi" in messages[0]
