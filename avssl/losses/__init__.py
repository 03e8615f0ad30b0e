"""Losses: one ``nn.Module`` per file, formula, shapes and paper in its docstring.

Each method builds its losses directly from their modules; a loss's config dataclass (when it has one)
lives next to it. MoCo's momentum key encoder and queue are state, not loss: :mod:`avssl.modules.momentum`.
"""

from __future__ import annotations

from avssl.losses.byol import BYOLLoss
from avssl.losses.infonce import CrossModalInfoNCE
from avssl.losses.moco import MoCoLoss
from avssl.losses.ntxent import NTXent

__all__ = [
    "BYOLLoss",
    "CrossModalInfoNCE",
    "MoCoLoss",
    "NTXent",
]
