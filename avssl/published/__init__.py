"""Author-released checkpoints imported as avssl runs (``avssl import-checkpoint``): the registry
``PUBLISHED`` (kind → :class:`~avssl.published.base.PublishedModel`)."""

from __future__ import annotations

from avssl.published.avsbench import AVSBENCH
from avssl.published.base import CheckpointError, Companion, MappedState, PublishedModel
from avssl.published.localization import KINDS as LOCALIZATION_KINDS

PUBLISHED: dict[str, PublishedModel] = {**LOCALIZATION_KINDS, **AVSBENCH}

__all__ = ["PUBLISHED", "CheckpointError", "Companion", "MappedState", "PublishedModel"]
