"""Learning-rate schedules as multipliers of the base lr (for torch.optim.lr_scheduler.LambdaLR)."""

from __future__ import annotations

import math

import torch

from avssl.train.config import ScheduleConfig


def lr_multiplier(step: int, max_steps: int, cfg: ScheduleConfig) -> float:
    """Linear warmup from 1/warmup to 1 over `warmup_steps`, then cosine from 1 to `min_lr_ratio`
    (Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017) at `max_steps`,
    or constant."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.name == "constant":
        return 1.0
    span = max(1, max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, max_steps: int, cfg: ScheduleConfig):
    """A LambdaLR stepping once per optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_multiplier(step, max_steps, cfg))
