"""Metrics of binaural reconstruction (spatial sound super-resolution), as in 2.5D Visual Sound.

Gao & Grauman, "2.5D Visual Sound", CVPR 2019, and its public evaluation code, for a predicted and a true
binaural waveform (2, S):

* **STFT distance** — per channel, the mean squared difference of the real and imaginary parts of the STFT
  (n_fft 512, hop 160, Hann window 400, centred; the binaural STFT of Vasudevan et al., "Sound and Visual
  Representation Learning with Multiple Pretraining Tasks", CVPR 2022), summed over
  the two channels.
* **Envelope distance** — per channel, the root mean squared difference of the Hilbert envelopes
  |x + i·H{x}|, summed over the two channels.

The released code pads with librosa's default at the time (reflect padding for centred frames); the same
is used here. Both are pure functions of tensors; lower is better.
"""

from __future__ import annotations

import torch
from torch import Tensor

N_FFT, HOP, WIN = 512, 160, 400


def binaural_stft(wave: Tensor) -> Tensor:
    """(..., S) → complex (..., 257, 1 + S // 160): Hann-400 window, n_fft 512, hop 160, reflect-centred."""
    flat = wave.reshape(-1, wave.shape[-1]).double()
    spec = torch.stft(
        flat,
        n_fft=N_FFT,
        hop_length=HOP,
        win_length=WIN,
        window=torch.hann_window(WIN, periodic=True, dtype=torch.float64, device=wave.device),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    return spec.reshape(*wave.shape[:-1], *spec.shape[-2:])


def stft_distance(predicted: Tensor, target: Tensor) -> float:
    """Σ over the 2 channels of mean((Re ΔX)² and (Im ΔX)²) for binaural waveforms (2, S)."""
    diff = binaural_stft(predicted) - binaural_stft(target)  # (2, F, T)
    per_channel = torch.stack([diff.real, diff.imag], dim=1).pow(2).flatten(1).mean(1)
    return float(per_channel.sum())


def hilbert_envelope(wave: Tensor) -> Tensor:
    """|analytic signal| of (..., S) via the FFT (as scipy.signal.hilbert): X·h with h = 1 at DC (and at
    Nyquist for even S), 2 for positive, 0 for negative frequencies."""
    n = wave.shape[-1]
    spectrum = torch.fft.fft(wave.double(), dim=-1)
    h = torch.zeros(n, dtype=torch.float64, device=wave.device)
    h[0] = 1.0
    if n % 2 == 0:
        h[n // 2] = 1.0
        h[1 : n // 2] = 2.0
    else:
        h[1 : (n + 1) // 2] = 2.0
    return torch.fft.ifft(spectrum * h, dim=-1).abs()


def envelope_distance(predicted: Tensor, target: Tensor) -> float:
    """Σ over the 2 channels of RMS(envelope(predicted) − envelope(target)) for waveforms (2, S)."""
    diff = hilbert_envelope(predicted) - hilbert_envelope(target)
    return float(diff.pow(2).mean(-1).sqrt().sum())
