"""Pure audio ops: waveform gain and time shift (in data workers), spectrogram masking (on the accelerator).

Waveforms are float (channels, samples) (or any (..., samples)); spectrograms are (..., F, T).
The masking ops are vectorised over leading dims so a batch can get a different mask per example in
one call on the model's device (Park et al., "SpecAugment: A Simple Data Augmentation Method
for Automatic Speech Recognition", Interspeech 2019, Sec. 2: time and frequency masking).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor


def gain(waveform: Tensor, db: float) -> Tensor:
    """Amplitude gain in decibels: ``x * 10^(db / 20)``."""
    return waveform * (10.0 ** (db / 20.0))


def time_shift(waveform: Tensor, shift: int, mode: Literal["circular", "zero"] = "circular") -> Tensor:
    """Delay by ``shift`` samples (negative: advance): ``y[n] = x[n - shift]``.

    ``circular`` wraps samples around the end; ``zero`` fills the vacated samples with 0.
    (..., samples) -> (..., samples).
    """
    n = waveform.shape[-1]
    if mode == "circular":
        return torch.roll(waveform, shifts=shift, dims=-1)
    if mode != "zero":
        raise ValueError(f"mode must be 'circular' or 'zero', got {mode!r}")
    out = torch.zeros_like(waveform)
    if abs(shift) >= n:
        return out
    if shift >= 0:
        out[..., shift:] = waveform[..., : n - shift]
    else:
        out[..., :shift] = waveform[..., -shift:]
    return out


def _band(length: int, start: Tensor | int, width: Tensor | int, device: torch.device) -> Tensor:
    """(..., length) bool, True on ``[start, start + width)``; start/width broadcast over leading dims."""
    start_t = torch.as_tensor(start, device=device)
    width_t = torch.as_tensor(width, device=device)
    idx = torch.arange(length, device=device)
    return (idx >= start_t[..., None]) & (idx < (start_t + width_t)[..., None])


def time_mask(spec: Tensor, start: Tensor | int, width: Tensor | int, value: float = 0.0) -> Tensor:
    """Set frames ``[start, start + width)`` of (..., F, T) to ``value``.

    ``start``/``width`` are ints or integer tensors of shape ``spec.shape[:-2]`` (or broadcastable to it),
    one band per leading index.
    """
    band = _band(spec.shape[-1], start, width, spec.device)  # (..., T)
    return spec.masked_fill(band[..., None, :], value)


def freq_mask(spec: Tensor, start: Tensor | int, width: Tensor | int, value: float = 0.0) -> Tensor:
    """Set frequency bins ``[start, start + width)`` of (..., F, T) to ``value`` (see :func:`time_mask`)."""
    band = _band(spec.shape[-2], start, width, spec.device)  # (..., F)
    return spec.masked_fill(band[..., :, None], value)
