"""Typed configs of the training engine (YAML sections `train`, `optim`, `schedule`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class OptimConfig:
    """Optimizer. `lr` is per global batch; LARS follows You, Gitman & Ginsburg, "Large Batch Training of
    Convolutional Networks", 2017 (trust ratio, eta)."""

    name: Literal["adamw", "sgd", "lars"] = "adamw"
    lr: float = 3e-4
    weight_decay: float = 1e-4
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    lars_eta: float = 0.001


@dataclass
class ScheduleConfig:
    """Learning-rate schedule: linear warmup over `warmup_steps`, then cosine to `min_lr_ratio`·lr (or constant)."""

    name: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0


@dataclass
class TrainConfig:
    """The loop. `batch_size` is per process (global batch = batch_size × processes × accumulation).

    `mixed_precision`: null (default) defers to the launcher (`accelerate launch --mixed_precision …`, or the
    accelerate config; "no" without one); an explicit value wins over the launcher. `trackers`: experiment
    trackers to log to — none by default, a list of `tensorboard` / `wandb`, or `auto` (every one installed);
    they get the resolved hyperparameters, the training metrics and the evaluation metrics.
    `process_group_timeout_s`: how long a collective (the barrier the other ranks wait at while rank 0 runs a
    periodic or final evaluation) may wait before the run fails; NCCL's default of 10 minutes is shorter than
    a VGG-SS-size evaluation on one GPU, so the default is 2 hours."""

    max_steps: int = 1000
    batch_size: int = 32
    seed: int = 0
    mixed_precision: Literal["no", "bf16", "fp16"] | None = None
    gradient_accumulation_steps: int = 1
    clip_grad_norm: float | None = None
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    resume: bool = True
    max_nonfinite_in_a_row: int = 5
    progress_bar: bool = True
    trackers: list[Literal["tensorboard", "wandb"]] | Literal["auto"] = field(default_factory=list)
    process_group_timeout_s: float = 7200.0
