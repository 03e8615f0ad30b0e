"""Random audio wrappers.

Sample keys: ``audio`` float (channels, samples) and ``sample_rate`` int. Every channel gets the same
parameters (binaural cues survive). :class:`RandomSpecMask` is not a sample transform: it runs on a
batch of spectrograms on the model's device, after the encoder's front end.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from avssl.transforms.compose import Sample, Transform, rand_uniform
from avssl.transforms.functional import audio as FAu


class AudioGain(Transform):
    """Scale the waveform by a gain in dB drawn from U[min_db, max_db]."""

    def __init__(self, min_db: float = -6.0, max_db: float = 6.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.min_db, self.max_db = float(min_db), float(max_db)

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        sample["audio"] = FAu.gain(sample["audio"], rand_uniform(self.min_db, self.max_db, generator))
        return sample


class AudioTimeShift(Transform):
    """Shift the waveform by ``round(U[-max_s, max_s] * sample_rate)`` samples (circular or zero fill).

    The shift breaks exact audio-visual sync by up to ``max_s``; keep it small for sync-sensitive methods.
    """

    def __init__(
        self, max_s: float, mode: Literal["circular", "zero"] = "circular", seed: int | None = None
    ) -> None:
        super().__init__(seed)
        if mode not in ("circular", "zero"):
            raise ValueError(f"mode must be 'circular' or 'zero', got {mode!r}")
        self.max_s, self.mode = float(max_s), mode

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        shift = round(rand_uniform(-self.max_s, self.max_s, generator) * sample["sample_rate"])
        sample["audio"] = FAu.time_shift(sample["audio"], shift, self.mode)
        return sample


class RandomSpecMask:
    """SpecAugment masking (Park et al., "SpecAugment: A Simple Data Augmentation Method for Automatic Speech
    Recognition", Interspeech 2019): per example, ``num_time`` time bands of width U{0..max_time}
    and ``num_freq`` frequency bands of width U{0..max_freq}, set to ``value``.

    Call on a batch ``spec`` (B, ..., F, T) on any device; each example (index of dim 0) gets its own bands.
    """

    def __init__(
        self, max_time: int, max_freq: int, num_time: int = 1, num_freq: int = 1, value: float = 0.0
    ) -> None:
        self.max_time, self.max_freq = max_time, max_freq
        self.num_time, self.num_freq, self.value = num_time, num_freq, value

    def _bands(
        self, batch: int, length: int, max_width: int, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """(start, width) int64 (batch,), with ``start + width <= length``."""
        width = torch.randint(0, min(max_width, length) + 1, (batch,), generator=generator)
        start = (torch.rand(batch, generator=generator) * (length - width + 1)).long()
        return start, width

    def __call__(self, spec: Tensor, generator: torch.Generator | None = None) -> Tensor:
        b, f, t = spec.shape[0], spec.shape[-2], spec.shape[-1]
        view = (b,) + (1,) * (spec.ndim - 3)  # one band per example, shared by the middle dims
        out = spec
        for _ in range(self.num_time):
            start, width = (x.view(view).to(spec.device) for x in self._bands(b, t, self.max_time, generator))
            out = FAu.time_mask(out, start, width, self.value)
        for _ in range(self.num_freq):
            start, width = (x.view(view).to(spec.device) for x in self._bands(b, f, self.max_freq, generator))
            out = FAu.freq_mask(out, start, width, self.value)
        return out
