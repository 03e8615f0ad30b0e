"""Appearance ops against naive per-pixel references."""

import math

import pytest
import torch

from avssl.transforms.functional import appearance as FA


def _clip(t=2, h=9, w=10, seed=0):
    return torch.rand(t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _gray(x):
    return 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]  # (T, H, W)


def test_grayscale_float_and_uint8():
    x = _clip()
    out = FA.grayscale(x)
    assert out.shape == x.shape
    for c in range(3):
        assert torch.allclose(out[:, c], _gray(x), atol=2e-4)  # torchvision rounds 0.299 to 0.2989
    x8 = (x * 255).to(torch.uint8)
    out8 = FA.grayscale(x8)
    assert out8.dtype == torch.uint8
    assert (out8[:, 0].float() - _gray(x8.float())).abs().max() < 1.5  # uint8 truncates


def test_brightness_contrast_saturation_match_naive():
    x = _clip()
    b = FA.color_jitter(x, FA.JitterParams(brightness=1.4))
    assert torch.allclose(b, (x * 1.4).clamp(0, 1), atol=1e-6)
    c = FA.color_jitter(x, FA.JitterParams(contrast=0.6))
    want = torch.empty_like(x)
    for t in range(x.shape[0]):  # contrast blends each frame with the mean of its own grayscale
        mean = _gray(x[t : t + 1]).mean()
        want[t] = (0.6 * x[t] + 0.4 * mean).clamp(0, 1)
    assert torch.allclose(c, want, atol=1e-3)
    s = FA.color_jitter(x, FA.JitterParams(saturation=1.7))
    want = (1.7 * x + (1 - 1.7) * _gray(x)[:, None]).clamp(0, 1)
    assert torch.allclose(s, want, atol=1e-3)


def _naive_hue(pixel, shift):
    """One RGB pixel, hue rotated by ``shift`` turns (HSV hexcone model, written from the definition)."""
    r, g, b = pixel
    mx, mn = max(r, g, b), min(r, g, b)
    d = mx - mn
    if d == 0:
        h = 0.0
    elif mx == r:
        h = ((g - b) / d) % 6
    elif mx == g:
        h = (b - r) / d + 2
    else:
        h = (r - g) / d + 4
    h = (h / 6 + shift) % 1.0 * 6
    k = lambda n: (n + h) % 6  # noqa: E731
    f = lambda n: mx - d * max(0.0, min(k(n), 4 - k(n), 1.0))  # noqa: E731
    return [f(5), f(3), f(1)]


def test_hue_matches_naive():
    x = _clip(t=1, h=3, w=4)
    out = FA.color_jitter(x, FA.JitterParams(hue=0.2))
    for i in range(3):
        for j in range(4):
            want = torch.tensor(_naive_hue(x[0, :, i, j].tolist(), 0.2))
            assert torch.allclose(out[0, :, i, j], want, atol=1e-4)


def test_jitter_order_is_respected_and_identity_copies():
    x = _clip()
    bc = FA.color_jitter(x, FA.JitterParams(brightness=1.5, contrast=0.5, order=(0, 1, 2, 3)))
    cb = FA.color_jitter(x, FA.JitterParams(brightness=1.5, contrast=0.5, order=(1, 0, 2, 3)))
    only_b = FA.JitterParams(brightness=1.5)
    only_c = FA.JitterParams(contrast=0.5)
    assert torch.allclose(bc, FA.color_jitter(FA.color_jitter(x, only_b), only_c))
    assert torch.allclose(cb, FA.color_jitter(FA.color_jitter(x, only_c), only_b))
    assert not torch.allclose(bc, cb)
    same = FA.color_jitter(x, FA.JitterParams())
    assert torch.equal(same, x) and same.data_ptr() != x.data_ptr()


def _naive_blur(img, k, sigma):
    """img (H, W); separable Gaussian with reflect padding, by loops."""
    r = k // 2
    weights = [math.exp(-(i**2) / (2 * sigma**2)) for i in range(-r, r + 1)]
    weights = [w / sum(weights) for w in weights]
    h, w = img.shape

    def reflect(i, n):
        return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)

    rows = torch.zeros(h, w)
    for y in range(h):
        for x in range(w):
            rows[y, x] = sum(weights[i + r] * img[y, reflect(x + i, w)] for i in range(-r, r + 1))
    out = torch.zeros(h, w)
    for y in range(h):
        for x in range(w):
            out[y, x] = sum(weights[i + r] * rows[reflect(y + i, h), x] for i in range(-r, r + 1))
    return out


@pytest.mark.parametrize(("k", "sigma"), [(3, 0.7), (5, 1.5)])
def test_gaussian_blur_matches_naive(k, sigma):
    x = _clip(t=1, h=7, w=8)
    out = FA.gaussian_blur(x, k, sigma)
    for c in range(3):
        assert torch.allclose(out[0, c], _naive_blur(x[0, c], k, sigma), atol=1e-5)
    with pytest.raises(ValueError):
        FA.gaussian_blur(x, 4, 1.0)


def test_normalize_layout_and_values():
    x8 = (_clip() * 255).to(torch.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    out = FA.normalize(x8, mean, std)
    assert out.shape == (3, 2, 9, 10) and out.dtype == torch.float32
    for c in range(3):
        for t in range(2):
            want = (x8[t, c].float() / 255 - mean[c]) / std[c]
            assert torch.allclose(out[c, t], want, atol=1e-5)
    assert torch.allclose(FA.normalize(x8.float() / 255, mean, std), out, atol=1e-5)
