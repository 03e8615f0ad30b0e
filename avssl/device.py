"""Device helpers shared by training, evaluation and inference (kept below all three, so evaluation and
inference never import the training engine)."""

from __future__ import annotations

import torch


def to_device(batch: dict, device: str | torch.device) -> dict:
    """Tensors of a batch moved to `device` (non-blocking); lists and metadata untouched."""
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()
    }


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of `module`'s first parameter (CPU for a module without parameters)."""
    first = next(module.parameters(), None)
    return first.device if first is not None else torch.device("cpu")
