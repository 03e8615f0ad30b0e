"""Binaural reconstruction metrics against naive references: frame-by-frame numpy DFT for the STFT
distance, a direct O(N²) DFT for the Hilbert envelope (and scipy.signal.hilbert where installed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avssl.evaluation.binaural_metrics import envelope_distance, hilbert_envelope, stft_distance


def _naive_stft(x: np.ndarray) -> np.ndarray:
    """Reflect-pad by n_fft/2, Hann-400 window centred in 512, one rfft per hop of 160."""
    n_fft, hop, win = 512, 160, 400
    window = np.zeros(n_fft)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    window[(n_fft - win) // 2 : (n_fft - win) // 2 + win] = hann
    padded = np.pad(x, n_fft // 2, mode="reflect")
    frames = [np.fft.rfft(padded[t * hop : t * hop + n_fft] * window) for t in range(1 + len(x) // hop)]
    return np.stack(frames, axis=1)  # (257, T)


def _naive_envelope(x: np.ndarray) -> np.ndarray:
    n = len(x)
    k = np.arange(n)
    spectrum = np.array([np.sum(x * np.exp(-2j * np.pi * f * k / n)) for f in range(n)])
    h = np.zeros(n)
    h[0] = 1
    if n % 2 == 0:
        h[n // 2] = 1
    h[1 : (n + 1) // 2] = 2
    analytic = np.array([np.sum(spectrum * h * np.exp(2j * np.pi * k * t / n)) / n for t in range(n)])
    return np.abs(analytic)


def test_stft_distance_matches_a_frame_loop() -> None:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 1600, generator=g), torch.randn(2, 1600, generator=g)
    expected = 0.0
    for c in range(2):
        d = _naive_stft(pred[c].numpy().astype(np.float64)) - _naive_stft(
            target[c].numpy().astype(np.float64)
        )
        expected += np.mean(np.concatenate([d.real.ravel(), d.imag.ravel()]) ** 2)
    assert stft_distance(pred, target) == pytest.approx(expected, rel=1e-9)
    assert stft_distance(target, target) == 0.0


@pytest.mark.parametrize("n", [64, 65])
def test_envelope_matches_a_direct_dft(n: int) -> None:
    x = torch.randn(n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    assert np.allclose(hilbert_envelope(x).numpy(), _naive_envelope(x.numpy()), atol=1e-9)
    signal = pytest.importorskip("scipy.signal")
    assert np.allclose(hilbert_envelope(x).numpy(), np.abs(signal.hilbert(x.numpy())), atol=1e-9)


def test_envelope_of_a_modulated_tone_is_its_modulation_and_distance_is_rms_sum() -> None:
    t = torch.arange(16000, dtype=torch.float64) / 16000
    envelope = 1 + 0.5 * torch.sin(2 * math.pi * 3 * t)
    tone = envelope * torch.sin(2 * math.pi * 1000 * t)
    inner = slice(500, -500)  # away from the ends (the FFT's circular edges)
    assert torch.allclose(hilbert_envelope(tone)[inner], envelope[inner], atol=1e-2)
    pred, target = torch.stack([tone, tone]), torch.stack([tone, 0.5 * tone])
    rms = float((0.5 * hilbert_envelope(tone)).pow(2).mean().sqrt())
    assert envelope_distance(pred, target) == pytest.approx(rms, rel=1e-9)
