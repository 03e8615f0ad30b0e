"""Losses: one ``nn.Module`` per file, formula, shapes and paper in its docstring.

``LOSSES`` maps config names to the loss classes. MoCo's helpers (``MemoryQueue``, ``ema_update``,
``momentum_copy``) live next to ``MoCoLoss`` in :mod:`avssl.losses.moco`.
"""

from __future__ import annotations

from torch import nn

from avssl.losses.byol import BYOLLoss
from avssl.losses.infonce import CrossModalInfoNCE
from avssl.losses.moco import MemoryQueue, MoCoLoss, ema_update, momentum_copy
from avssl.losses.ntxent import NTXent

LOSSES: dict[str, type[nn.Module]] = {
    "infonce": CrossModalInfoNCE,
    "ntxent": NTXent,
    "moco": MoCoLoss,
    "byol": BYOLLoss,
}

__all__ = [
    "LOSSES",
    "BYOLLoss",
    "CrossModalInfoNCE",
    "MemoryQueue",
    "MoCoLoss",
    "NTXent",
    "ema_update",
    "momentum_copy",
]
