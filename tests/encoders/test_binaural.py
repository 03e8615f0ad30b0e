"""Binaural front end: log-magnitudes, ILD and IPD against a naive numpy STFT on synthetic stereo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avssl.encoders import BinauralConfig, BinauralFrontEndConfig, build_encoder
from avssl.encoders.binaural import BinauralFrontEnd

SR, N_FFT, HOP, WIN = 16000, 512, 160, 400


def _naive_stft(x: np.ndarray) -> np.ndarray:
    """Loop over frames: reflect-pad n_fft/2, periodic Hann(400) centred in 512 samples, rfft → (F, T)."""
    padded = np.pad(x, N_FFT // 2, mode="reflect")
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)
    window = np.zeros(N_FFT)
    window[(N_FFT - WIN) // 2 : (N_FFT - WIN) // 2 + WIN] = hann
    frames = [np.fft.rfft(padded[s : s + N_FFT] * window) for s in range(0, padded.size - N_FFT + 1, HOP)]
    return np.array(frames).T


def _naive_cues(left: np.ndarray, right: np.ndarray, eps: float = 1e-10) -> np.ndarray:
    spec_l, spec_r = _naive_stft(left), _naive_stft(right)
    ild = 10 * np.log10((np.abs(spec_l) ** 2 + eps) / (np.abs(spec_r) ** 2 + eps))
    ipd = np.angle(spec_l * np.conj(spec_r))
    return np.stack(
        [np.log(np.abs(spec_l) + 1e-6), np.log(np.abs(spec_r) + 1e-6), ild, np.cos(ipd), np.sin(ipd)]
    )


def _cues(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    wave = torch.from_numpy(np.stack([left, right])).float()[None]  # (1, 2, S)
    return BinauralFrontEnd(BinauralFrontEndConfig())(wave)[0].double().numpy()


def _noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))


def test_channels_match_a_naive_stft() -> None:
    left = _noise(seed=0)
    right = 0.5 * np.roll(left, 3) + 0.02 * _noise(seed=1)
    ours, ref = _cues(left, right), _naive_cues(left, right)
    assert ours.shape == ref.shape == (5, N_FFT // 2 + 1, 1 + left.size // HOP)
    np.testing.assert_allclose(ours[:3], ref[:3], atol=1e-3)  # log-magnitudes and ILD (dB)
    np.testing.assert_allclose(ours[3:], ref[3:], atol=1e-3)  # cos / sin IPD


@pytest.mark.parametrize("db", [6.0, -3.0])
def test_ild_equals_the_applied_level_difference(db: float) -> None:
    left = _noise()
    right = left * 10 ** (-db / 20)  # right quieter by `db`
    cues = _cues(left, right)
    np.testing.assert_allclose(cues[2], db, atol=1e-3)
    np.testing.assert_allclose(cues[3], 1.0, atol=1e-4)  # no delay: zero phase difference
    swapped = _cues(right, left)
    np.testing.assert_allclose(swapped[2], -cues[2], atol=1e-4)
    np.testing.assert_allclose(swapped[:2], cues[1::-1], atol=1e-5)


def test_ipd_of_a_delayed_tone() -> None:
    """R(t) = L(t − d): at the tone's bin, IPD = 2π·f·d / sr; swapping the ears negates sin IPD."""
    k, delay = 40, 2  # bin 40 = 1250 Hz, delay 2 samples
    freq = k * SR / N_FFT
    t = np.arange(SR) / SR
    left, right = np.sin(2 * np.pi * freq * t), np.sin(2 * np.pi * freq * (t - delay / SR))
    cues, swapped = _cues(left, right), _cues(right, left)
    expected = 2 * np.pi * freq * delay / SR
    inner = slice(5, -5)  # frames away from the reflect-padded edges
    np.testing.assert_allclose(cues[3, k, inner], np.cos(expected), atol=1e-3)
    np.testing.assert_allclose(cues[4, k, inner], np.sin(expected), atol=1e-3)
    np.testing.assert_allclose(swapped[4, k, inner], -np.sin(expected), atol=1e-3)
    np.testing.assert_allclose(np.abs(cues[2, k, inner]), 0.0, atol=1e-2)  # equal levels


def test_encoder_shape_and_channel_check() -> None:
    encoder = build_encoder(BinauralConfig(name="binaural_resnet18")).eval()
    with torch.no_grad():
        assert encoder(torch.randn(2, 2, 2 * SR) * 0.1).shape == (2, 512, 9, 7)  # 2 s clip: 201 frames
    with pytest.raises(ValueError, match=r"\(B, 2, samples\)"):
        encoder(torch.randn(2, 1, SR))
    assert not encoder.frontend.state_dict()
