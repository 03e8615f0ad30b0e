"""Bad input: one MediaError/AnnotationError naming the file and the problem; files never modified."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from avssl.data.annotations import AnnotationError, read_json, read_xml_boxes
from avssl.data.decoding import MediaError, read_audio, read_clip, read_image, read_image_audio
from avssl.data.media_writer import VideoEncoding, write_image, write_video, write_wav


def _frames(n, h=48, w=64):
    return [np.full((h, w, 3), (17 * i) % 256, np.uint8) for i in range(n)]


def _tone(freq, rate, seconds, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * freq * t)] * channels).astype(np.float32)


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    good = write_video(d / "good.mp4", _frames(50), 25, _tone(440, 48000, 2.0, 2), 48000)
    data = good.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])  # moov atom at the end: lost
    fast = write_video(
        d / "fast.mp4", _frames(100), 25, _tone(440, 48000, 4.0), 48000, VideoEncoding(faststart=True, gop=10)
    )
    fdata = fast.read_bytes()
    (d / "truncated_faststart.mp4").write_bytes(fdata[: int(len(fdata) * 0.4)])
    (d / "empty.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("this is not a video\n")
    write_video(d / "silent.mp4", _frames(50), 25, None)
    write_video(d / "audio_only.mp4", [], 25, _tone(440, 48000, 2.0), 48000)
    write_wav(d / "tone_44k_stereo.wav", _tone(1000, 44100, 2.0, 2), 44100)
    write_wav(d / "tone_8k_mono.wav", _tone(1000, 8000, 2.0, 1), 8000)
    gray = np.tile(np.arange(64, dtype=np.uint8), (48, 1))
    write_image(d / "gray.png", gray)
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    write_image(d / "rgba.png", rgba)
    (d / "broken.xml").write_text("<annotation><bbox><xmin>1</xmin>")
    (d / "bad_coord.xml").write_text(
        "<annotation><object><bndbox><xmin>a</xmin><ymin>1</ymin>"
        "<xmax>5</xmax><ymax>6</ymax></bndbox></object></annotation>"
    )
    (d / "broken.json").write_text('{"a": [1, 2,]}')
    return d


def _digest(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated.mp4", "not a readable media file"),
        ("empty.mp4", "empty file"),
        ("text.mp4", "not a readable media file"),
        ("missing.mp4", "file not found"),
        ("silent.mp4", "no audio stream"),
        ("audio_only.mp4", "no video stream"),
    ],
)
def test_read_clip_errors_name_file_and_problem(bad_dir, name, message):
    with pytest.raises(MediaError) as info:
        read_clip(bad_dir / name, 0.5, 1.0, fps=8, size=(32, 32))
    assert str(bad_dir / name) in str(info.value)
    assert message in str(info.value)


def test_truncated_faststart_file_is_reported_not_padded(bad_dir):
    path = bad_dir / "truncated_faststart.mp4"
    with pytest.raises(MediaError, match="truncated") as info:
        read_clip(path, 3.0, 0.5, fps=8, size=(32, 32), sample_rate=None)
    assert str(path) in str(info.value)
    with pytest.raises(MediaError, match="truncated"):
        read_audio(path, 3.0, 0.5)
    # the part that is still there reads normally
    assert read_clip(path, 0.5, 0.5, fps=8, size=(32, 32)).num_valid_frames == 4


def test_silent_video_reads_without_audio_and_audio_only_reads_audio(bad_dir):
    clip = read_clip(bad_dir / "silent.mp4", 0.5, 1.0, fps=8, size=(32, 32), sample_rate=None)
    assert clip.frames.shape == (8, 32, 32, 3) and clip.audio is None
    audio, valid = read_audio(bad_dir / "audio_only.mp4", 0.5, 1.0, sample_rate=16000)
    assert audio.shape == (1, 16000) and valid == 16000


def test_window_entirely_past_the_end(bad_dir):
    with pytest.raises(MediaError, match="after the end"):
        read_clip(bad_dir / "good.mp4", 5.0, 1.0, fps=8)
    with pytest.raises(MediaError, match="after the end"):
        read_audio(bad_dir / "tone_8k_mono.wav", 3.0, 1.0)


def _dominant_hz(audio, rate):
    spectrum = np.abs(np.fft.rfft(audio))
    return np.fft.rfftfreq(len(audio), 1 / rate)[int(np.argmax(spectrum))]


@pytest.mark.parametrize("name", ["tone_44k_stereo.wav", "tone_8k_mono.wav"])
@pytest.mark.parametrize("channels", [1, 2])
def test_wav_with_other_rate_and_channels_is_resampled_and_mixed(bad_dir, name, channels):
    audio, valid = read_audio(bad_dir / name, 0.25, 1.0, sample_rate=16000, channels=channels)
    assert audio.shape == (channels, 16000) and valid == 16000
    for c in range(channels):
        assert abs(_dominant_hz(audio[c].numpy(), 16000) - 1000) <= 1.0
        assert abs(np.sqrt(2) * audio[c].numpy().std() - 0.5) < 0.02  # level kept (sine RMS = A / sqrt 2)


def test_sidecar_wav_replaces_container_audio(bad_dir):
    clip = read_clip(
        bad_dir / "silent.mp4", 0.5, 1.0, fps=8, size=(32, 32), audio_path=bad_dir / "tone_8k_mono.wav"
    )
    assert clip.audio.shape == (1, 16000)
    assert abs(_dominant_hz(clip.audio[0].numpy(), 16000) - 1000) <= 1.0


def test_grayscale_and_rgba_images_become_rgb(bad_dir):
    gray = read_image(bad_dir / "gray.png")
    assert gray.shape == (48, 64, 3) and gray.dtype == torch.uint8
    assert torch.equal(gray[..., 0], gray[..., 2]) and gray[0, 10, 0] == 10
    rgba = read_image(bad_dir / "rgba.png", size=(24, 32))
    assert rgba.shape == (24, 32, 3) and int(rgba[..., 0].min()) == 200
    clip = read_image_audio(bad_dir / "gray.png", bad_dir / "tone_44k_stereo.wav", 0.0, 1.0)
    assert clip.frames.shape == (1, 48, 64, 3) and clip.audio.shape == (1, 16000)


def test_image_errors(bad_dir):
    with pytest.raises(MediaError, match="not a readable image") as info:
        read_image(bad_dir / "text.mp4")
    assert str(bad_dir / "text.mp4") in str(info.value)
    with pytest.raises(MediaError, match="file not found"):
        read_image(bad_dir / "nope.jpg")


@pytest.mark.parametrize(
    ("reader", "name", "message"),
    [
        (read_xml_boxes, "missing.xml", "annotation file not found"),
        (read_xml_boxes, "broken.xml", "malformed XML at line 1"),
        (read_xml_boxes, "bad_coord.xml", "box 1: coordinate 'a' is not a number"),
        (read_json, "broken.json", "malformed JSON at line 1"),
        (read_json, "missing.json", "annotation file not found"),
    ],
)
def test_annotation_errors(bad_dir, reader, name, message):
    with pytest.raises(AnnotationError) as info:
        reader(bad_dir / name)
    assert str(bad_dir / name) in str(info.value) and message in str(info.value)


def test_reading_never_modifies_files(bad_dir):
    before = _digest(bad_dir)
    for name in ["good.mp4", "truncated.mp4", "empty.mp4", "text.mp4", "silent.mp4"]:
        try:
            read_clip(bad_dir / name, 0.2, 1.0, fps=4, size=(16, 16))
        except MediaError:
            pass
    assert _digest(bad_dir) == before
