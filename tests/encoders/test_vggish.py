"""VGGish patches against a naive numpy loop written from the definition (Hershey et al. 2017)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avssl.encoders.vggish import VGGish, vggish_mel_matrix, vggish_patches

SR = 16000


def _naive_mel_matrix() -> np.ndarray:
    """Loop over bins and bands: HTK-mel triangles between equally spaced mel edges (125-7500 Hz)."""

    def mel(hz: float) -> float:
        return 1127.0 * math.log(1.0 + hz / 700.0)

    n_bins, n_bands = 257, 64
    edges = [mel(125.0) + i * (mel(7500.0) - mel(125.0)) / (n_bands + 1) for i in range(n_bands + 2)]
    matrix = np.zeros((n_bins, n_bands))
    for k in range(1, n_bins):  # bin 0 (DC) stays zero
        m = mel(k * (SR / 2) / (n_bins - 1))
        for b in range(n_bands):
            lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
            if lo < m <= mid:
                matrix[k, b] = (m - lo) / (mid - lo)
            elif mid < m < hi:
                matrix[k, b] = (hi - m) / (hi - mid)
    return matrix


def _naive_patches(wave: np.ndarray) -> np.ndarray:
    """Frame (400/160, no padding) → |rfft 512| of periodic-Hann frames → mel → log(+0.01) → 96-frame chunks."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    matrix = _naive_mel_matrix()
    rows = []
    for start in range(0, wave.size - 400 + 1, 160):
        spectrum = np.abs(np.fft.rfft(wave[start : start + 400] * window, 512))
        rows.append(np.log(spectrum @ matrix + 0.01))
    logmel = np.array(rows)
    return np.array([logmel[p * 96 : (p + 1) * 96] for p in range(len(rows) // 96)])


def test_mel_matrix_matches_the_definition() -> None:
    np.testing.assert_allclose(vggish_mel_matrix().double().numpy(), _naive_mel_matrix(), atol=1e-6)


def test_patches_match_a_naive_loop() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(2.5 * SR)) / SR
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    ours = vggish_patches(torch.from_numpy(wave).float()[None, None], SR)[0].double().numpy()
    ref = _naive_patches(wave)
    assert ours.shape == ref.shape == (2, 96, 64)
    np.testing.assert_allclose(ours, ref, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("seconds", [1.0, 2.0, 2.5, 3.0, 5.0, 10.0])
def test_patch_count_is_floor_of_duration_over_0_96(seconds: float) -> None:
    wave = torch.randn(1, 1, int(seconds * SR))
    assert vggish_patches(wave, SR).shape == (1, math.floor(seconds / 0.96), 96, 64)


@pytest.mark.parametrize(
    ("samples", "count"), [(15600, 1), (30719, 1), (30800, 1), (30960, 2), (46319, 2), (46320, 3)]
)
def test_patch_count_near_multiples_of_0_96_s(samples: int, count: int) -> None:
    """Un-centred 25 ms frames: n = ⌊(S − 240) / 15360⌋, one fewer than ⌊S / 15360⌋ within 15 ms above."""
    assert count == (samples - 240) // 15360
    assert vggish_patches(torch.randn(1, 1, samples), SR).shape[1] == count


def test_too_short_audio_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="too short"):
        vggish_patches(torch.randn(1, 1, 15360), SR)  # exactly 0.96 s: only 94 frames


def test_other_sample_rates_are_resampled_and_channels_averaged() -> None:
    wave = torch.randn(2, 2, 32000) * 0.1  # 1 s stereo at 32 kHz
    patches = vggish_patches(wave, 32000)
    assert patches.shape == (2, 1, 96, 64)
    mono = vggish_patches(wave.mean(dim=1, keepdim=True), 32000)
    torch.testing.assert_close(patches, mono)


def test_embeddings_are_per_patch_along_the_last_axis() -> None:
    torch.manual_seed(0)
    model = VGGish().eval()
    wave = torch.randn(2, 1, 3 * SR) * 0.1
    with torch.no_grad():
        out = model(wave)
        patches = vggish_patches(wave, SR)
        assert out.shape == (2, 128, 1, 3)
        for b in range(2):
            torch.testing.assert_close(out[b, :, 0].T, model.embed_patches(patches[b]), rtol=1e-4, atol=1e-5)
    assert not any("mel" in k for k in model.state_dict())
