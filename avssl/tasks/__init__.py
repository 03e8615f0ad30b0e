"""Tasks: one module per method, composing encoders, heads and losses into one nn.Module.

`TASKS` maps a task name to (config dataclass, builder); a run directory's config.yaml names its task,
so `avssl` commands rebuild the model from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from avssl.tasks.av_contrastive import AVContrastive, AVContrastiveConfig

TASKS: dict[str, tuple[type, Callable[[Any], nn.Module]]] = {
    "av_contrastive": (AVContrastiveConfig, AVContrastive),
}


def build_task(name: str, cfg: Any) -> nn.Module:
    """The task `name` built from its config dataclass."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; registered: {', '.join(sorted(TASKS))}")
    return TASKS[name][1](cfg)
