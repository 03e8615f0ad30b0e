"""Base class of the sample transforms, ``Compose``, and the random draws they share.

A transform maps a per-sample dict to a NEW dict (the input dict and its tensors are never modified).
Randomness comes from the ``generator`` passed at call time, else the one seeded in the constructor,
else torch's global RNG. Prefer the global RNG (no seed) inside DataLoader workers: torch seeds it per
worker, whereas a generator seeded in the constructor is copied into every worker and would make all
workers draw the same augmentations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

Sample = dict[str, Any]


class Transform:
    """Dict in, dict out. Subclasses implement :meth:`forward` on a shallow copy of the sample."""

    def __init__(self, seed: int | None = None) -> None:
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __call__(self, sample: Sample, generator: torch.Generator | None = None) -> Sample:
        return self.forward(dict(sample), generator if generator is not None else self.generator)

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({fields})"


class Compose(Transform):
    """Apply ``transforms`` in order, threading one generator through all of them.

    A transform that turns the clip into the batch layout (``requires_last``, e.g. ``Normalize``) may
    only come last.
    """

    def __init__(self, transforms: Sequence[Transform], seed: int | None = None) -> None:
        super().__init__(seed)
        self.transforms = list(transforms)
        for t in self.transforms[:-1]:
            if getattr(t, "requires_last", False):
                raise ValueError(f"{type(t).__name__} must be the last transform of a pipeline")

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        for t in self.transforms:
            sample = t(sample, generator)
        return sample


def rand_uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    """One draw from U[low, high)."""
    return low + (high - low) * torch.rand((), generator=generator).item()


def rand_bool(p: float, generator: torch.Generator | None) -> bool:
    """True with probability ``p``."""
    return torch.rand((), generator=generator).item() < p


def rand_int(low: int, high: int, generator: torch.Generator | None) -> int:
    """One integer draw from [low, high] (inclusive)."""
    return int(torch.randint(low, high + 1, (), generator=generator).item())


def rand_log_uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    """One draw whose log is uniform on [log low, log high)."""
    return math.exp(rand_uniform(math.log(low), math.log(high), generator))
