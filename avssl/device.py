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


DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    """The device a command runs on: `auto` is CUDA when available, else Apple's MPS when available, else
    the CPU; `cpu` / `cuda` / `mps` as named (ValueError for an unknown name or an absent accelerator)."""
    if name not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if (name == "cuda" and not torch.cuda.is_available()) or (name == "mps" and not has_mps):
        raise ValueError(f"--device {name}: no {name.upper()} device is available on this machine")
    return torch.device(name)
