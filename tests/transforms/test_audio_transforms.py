"""Audio ops and wrappers against naive loops."""

import pytest
import torch

from avssl.transforms.audio import AudioGain, AudioTimeShift, RandomSpecMask
from avssl.transforms.functional import audio as FAu


def _wave(channels=2, n=50, seed=0):
    return torch.randn(channels, n, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("db", [-12.0, 0.0, 3.5])
def test_gain_is_db_amplitude(db):
    x = _wave()
    out = FAu.gain(x, db)
    factor = 10 ** (db / 20)
    for c in range(2):
        for i in range(x.shape[1]):
            assert abs(out[c, i].item() - factor * x[c, i].item()) < 1e-5


@pytest.mark.parametrize("shift", [-7, 0, 3, 49, 50, 63])
@pytest.mark.parametrize("mode", ["circular", "zero"])
def test_time_shift_matches_loop(shift, mode):
    x = _wave()
    n = x.shape[1]
    out = FAu.time_shift(x, shift, mode)
    want = torch.zeros_like(x)
    for i in range(n):  # y[i] = x[i - shift]
        j = i - shift
        if mode == "circular":
            want[:, i] = x[:, j % n]
        elif 0 <= j < n:
            want[:, i] = x[:, j]
    assert torch.equal(out, want)


def test_spectrogram_masks_match_loops_per_example():
    spec = torch.rand(3, 2, 6, 8)  # (B, C, F, T)
    start = torch.tensor([0, 2, 5]).view(3, 1)
    width = torch.tensor([3, 0, 9]).view(3, 1)
    tm = FAu.time_mask(spec, start, width, value=-1.0)
    fm = FAu.freq_mask(spec, start, width)
    want_t, want_f = spec.clone(), spec.clone()
    for b in range(3):
        for k in range(int(start[b]), min(int(start[b] + width[b]), 8)):
            want_t[b, :, :, k] = -1.0
        for k in range(int(start[b]), min(int(start[b] + width[b]), 6)):
            want_f[b, :, k, :] = 0.0
    assert torch.equal(tm, want_t) and torch.equal(fm, want_f)
    assert torch.equal(FAu.time_mask(spec[0, 0], 1, 2)[:, 1:3], torch.zeros(6, 2))  # plain ints


def test_random_spec_mask_bands_and_determinism():
    spec = torch.ones(4, 1, 16, 20)
    masker = RandomSpecMask(max_time=5, max_freq=3)
    out = masker(spec, torch.Generator().manual_seed(0))
    again = masker(spec, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    for b in range(4):
        cols = (out[b, 0] == 0).all(dim=0)  # fully masked time frames
        rows = (out[b, 0] == 0).all(dim=1)  # fully masked frequency bins
        assert cols.sum() <= 5 and rows.sum() <= 3
        for band in (cols, rows):  # a single contiguous band
            idx = torch.nonzero(band).flatten()
            assert idx.numel() == 0 or idx.max() - idx.min() + 1 == idx.numel()


def test_gain_wrapper_same_factor_on_all_channels():
    x = _wave(n=20) + 3.0  # keep away from zero for the ratio
    sample = {"audio": x, "sample_rate": 16000}
    out = AudioGain(-6.0, 6.0)(sample, torch.Generator().manual_seed(1))
    ratio = out["audio"] / x
    assert torch.allclose(ratio, ratio[0, 0].expand_as(ratio), atol=1e-5)
    db = 20 * torch.log10(ratio[0, 0])
    assert -6.0 <= db <= 6.0
    assert sample["audio"] is x and torch.equal(sample["audio"], _wave(n=20) + 3.0)


def test_time_shift_wrapper_uses_sample_rate():
    x = _wave(n=1000)
    out = AudioTimeShift(max_s=0.05, seed=3)({"audio": x, "sample_rate": 2000})
    shifts = [s for s in range(-100, 101) if torch.equal(out["audio"], torch.roll(x, s, dims=-1))]
    assert len(shifts) == 1 and abs(shifts[0]) <= 100
    with pytest.raises(ValueError):
        AudioTimeShift(0.1, mode="reflect")
