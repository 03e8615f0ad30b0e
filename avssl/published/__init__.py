"""Author-released checkpoints imported as avssl runs (``avssl import-checkpoint``): the registry
``PUBLISHED`` (kind → :class:`~avssl.published.base.PublishedModel`)."""

from __future__ import annotations

from avssl.published.base import CheckpointError, MappedState, PublishedModel

PUBLISHED: dict[str, PublishedModel] = {}

__all__ = ["PUBLISHED", "CheckpointError", "MappedState", "PublishedModel"]
