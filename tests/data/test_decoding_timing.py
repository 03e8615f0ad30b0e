"""read_clip returns the frames of the asked window (within half a frame) and audio aligned within 10 ms,
for constant and variable frame rate files with long and short GOPs; frames equal a whole-file decode."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from avssl.data.decoding import read_clip, target_times
from avssl.data.synthetic.timing import click_times, decode_index, frame_times_for

CLIP_NAMES = ["cfr_long_gop", "cfr_short_gop", "vfr_long_gop", "vfr_short_gop_30fps_44k"]


def _windows(spec, n, seed):
    rng = np.random.default_rng(seed)
    starts = list(rng.uniform(0.0, spec.duration_s - 1.2, size=n))
    return [0.0, *starts]


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_frames_within_half_a_frame_of_targets(timing_clips, name):
    path, spec = timing_clips[name]
    times = frame_times_for(spec)
    for start in _windows(spec, 8, seed=1):
        clip = read_clip(path, start, 1.0, fps=8, size=(96, 128), sample_rate=None)
        targets = target_times(start, 1.0, 8)
        assert clip.frames.shape == (8, 96, 128, 3)
        for k, frame in enumerate(clip.frames.numpy()):
            index = decode_index(frame)
            # the frame shown is the source frame nearest the target (exactly as a whole-file decode says)
            nearest = int(np.argmin(np.abs(times - targets[k] - 1e-9)))
            assert abs(times[index] - targets[k]) <= abs(times[nearest] - targets[k]) + 1e-6
            assert abs(times[index] - targets[k]) <= 0.5 / spec.fps * (2 if spec.vfr_jitter else 1) + 1e-6
            assert abs(clip.frame_times[k].item() - times[index]) < 1e-3
        assert not clip.padded


def _whole_decode(path, size):
    with av.open(str(path)) as c:
        frames = [
            (f.time, f.to_ndarray(width=size[1], height=size[0], format="rgb24", interpolation="AREA"))
            for f in c.decode(video=0)
        ]
    return np.array([t for t, _ in frames]), [a for _, a in frames]


@pytest.mark.parametrize("name", ["cfr_long_gop", "vfr_long_gop"])
@pytest.mark.parametrize("threads", [1, 2])
def test_frames_bit_identical_to_whole_file_decode(timing_clips, name, threads):
    path, spec = timing_clips[name]
    times, frames = _whole_decode(path, (64, 80))
    for start in _windows(spec, 6, seed=2):
        clip = read_clip(path, start, 1.0, fps=6, size=(64, 80), sample_rate=None, threads=threads)
        for k, t in enumerate(clip.frame_times.numpy()):
            j = int(np.argmin(np.abs(times - t)))
            np.testing.assert_array_equal(clip.frames[k].numpy(), frames[j])


def _click_lag_ms(audio, start, clicks, sample_rate):
    """Lag (ms) of the returned audio against the ideal click train of the window (cross-correlation)."""
    signal = np.abs(audio).mean(axis=0)
    ideal = np.zeros_like(signal)
    width = int(0.002 * sample_rate)
    for c in clicks:
        pos = int(round((c - start) * sample_rate))
        if 0 <= pos < len(ideal) - width:
            ideal[pos : pos + width] = 1.0
    max_lag = int(0.05 * sample_rate)
    lags = np.arange(-max_lag, max_lag + 1)
    scores = [
        np.dot(
            signal[max(0, lag) : len(signal) + min(0, lag)], ideal[max(0, -lag) : len(ideal) + min(0, -lag)]
        )
        for lag in lags
    ]
    return 1000.0 * lags[int(np.argmax(scores))] / sample_rate


@pytest.mark.parametrize("name", CLIP_NAMES)
@pytest.mark.parametrize("channels", [1, 2])
def test_audio_aligned_within_10ms(timing_clips, name, channels):
    path, spec = timing_clips[name]
    clicks = click_times(spec)
    for start in _windows(spec, 6, seed=3):
        clip = read_clip(path, start, 1.5, fps=4, size=(48, 64), channels=channels)
        assert clip.audio.shape == (channels, 24000)
        assert clip.sample_rate == 16000
        inside = [c for c in clicks if start <= c < start + 1.45]
        if not inside:
            continue
        lag = _click_lag_ms(clip.audio.numpy(), start, clicks, 16000)
        assert abs(lag) < 10.0, f"{name} start={start:.3f}: audio lag {lag:.2f} ms"
        # the click is audible where it should be (level not lost by resampling / mixing)
        pos = int(round((inside[0] - start) * 16000))
        assert np.abs(clip.audio.numpy()[:, pos : pos + 48]).max() > 0.4


def test_flash_frame_and_click_coincide(timing_clips):
    """End to end: in a window starting at a flash, frame 0 is the flash and the click is at sample ~0."""
    path, spec = timing_clips["cfr_short_gop"]
    start = float(click_times(spec)[2])
    clip = read_clip(path, start, 1.0, fps=spec.fps, size=(120, 160))
    assert decode_index(clip.frames[0].numpy()) == 2 * spec.flash_every
    onset = int(np.argmax(np.abs(clip.audio.numpy()[0]) > 0.3))
    assert onset < 16 * 3  # < 3 ms


@pytest.mark.parametrize("name", ["cfr_long_gop", "vfr_short_gop_30fps_44k"])
def test_window_past_the_end_is_padded_and_flagged(timing_clips, name):
    path, spec = timing_clips[name]
    start = spec.duration_s - 0.5
    clip = read_clip(path, start, 1.0, fps=8, size=(48, 64))
    assert clip.padded
    assert clip.frames.shape[0] == 8
    assert 3 <= clip.num_valid_frames <= 5
    assert abs(clip.num_valid_samples - 8000) < 400
    assert np.all(clip.audio.numpy()[:, clip.num_valid_samples + 400 :] == 0)
    # padded frames repeat the last frame of the file
    last = len(frame_times_for(spec)) - 1
    assert [decode_index(f) for f in clip.frames[clip.num_valid_frames :].numpy()] == [last] * (
        8 - clip.num_valid_frames
    )


def test_video_offset_moves_frames_not_audio(timing_clips):
    path, spec = timing_clips["cfr_short_gop"]
    times = frame_times_for(spec)
    base = read_clip(path, 1.0, 1.0, fps=1, size=(48, 64))
    centre = read_clip(path, 1.0, 1.0, fps=1, size=(48, 64), video_offset_s=0.5)
    assert times[decode_index(base.frames[0].numpy())] == pytest.approx(1.0)
    assert times[decode_index(centre.frames[0].numpy())] == pytest.approx(1.5, abs=0.5 / spec.fps + 1e-6)
    assert torch.equal(base.audio, centre.audio)
