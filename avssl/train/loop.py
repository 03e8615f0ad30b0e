"""The one training loop every task uses.

`task(batch) -> TaskOutput(loss, logs)` (`avssl.tasks.base`); the loop owns Accelerate (devices, DDP, mixed
precision, gradient accumulation), the optimizer and schedule, gradient clipping, the task's step hook
(`task.on_step_end(step, max_steps)` after each optimizer step, for tasks that are a `StepHook`),
checkpoints and resume, the non-finite-loss guard, the bad-item policy, and logging (JSONL + progress bar
+ the trackers `train.trackers` names): the loss and every entry of `logs`, detached and averaged over the
gradient accumulation micro-steps of an optimizer step; the trackers also get the run's hyperparameters
and the evaluation metrics that `on_step` / `on_end` return.

Resume continues the SAME run: the batch order comes from `ResumableBatchSampler` (position saved in the
checkpoint), sample content and augmentations depend only on (seed, epoch, index), and Accelerate restores
model, optimizer, scheduler and RNG states — so on CPU the losses after a resume equal the uninterrupted
run's.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from torch import nn

from avssl.data.datasets.base import BadItemTracker
from avssl.data.loader import ResumableBatchSampler, build_loader
from avssl.device import to_device
from avssl.rundir import latest_checkpoint
from avssl.tasks.base import StepHook, TaskOutput
from avssl.train.checkpoint import export_model, load_checkpoint, save_checkpoint
from avssl.train.config import OptimConfig, ScheduleConfig, TrainConfig
from avssl.train.logging import RunLogger, resolve_trackers, trackers_available
from avssl.train.optim import build_optimizer
from avssl.train.schedules import build_scheduler


class NonFiniteLoss(RuntimeError):
    """The loss was NaN/inf for too many optimizer steps in a row."""


@dataclass
class LoopSetup:
    """Everything the loop needs besides the task and the data."""

    train: TrainConfig
    optim: OptimConfig
    schedule: ScheduleConfig
    output_dir: Path
    num_workers: int = 2
    max_bad_fraction: float = 0.01
    hparams: dict | None = None  # flat {dotted key: value} for the trackers; default: train/optim/schedule

    def hyperparameters(self) -> dict:
        """`hparams`, or the loop's own sections flattened to dotted keys."""
        if self.hparams is not None:
            return self.hparams
        sections = {"train": self.train, "optim": self.optim, "schedule": self.schedule}
        return {
            f"{n}.{k}": v for n, section in sections.items() for k, v in dataclasses.asdict(section).items()
        }


def make_accelerator(cfg: TrainConfig, output_dir: Path) -> Accelerator:
    """Accelerator with the run's precision (None: the launcher's), accumulation and chosen trackers.

    Accelerate keeps its state per process; it is reset so several runs in one process (tests, notebooks)
    may use different precisions. The distributed state itself is kept."""
    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(
        mixed_precision=cfg.mixed_precision,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        log_with=resolve_trackers(cfg.trackers, trackers_available()) or None,
        project_dir=str(output_dir),
    )
    if cfg.mixed_precision != "no" and not accelerator.native_amp:
        # Accelerate quietly trains fp16 on a CPU in fp32 (no autocast, no GradScaler): say so
        warnings.warn(
            f"train.mixed_precision={cfg.mixed_precision}: no autocast on {accelerator.device.type} "
            "(Accelerate does not support it there); training runs in fp32",
            stacklevel=2,
        )
    return accelerator


def _batches(dataset, sampler: ResumableBatchSampler | None, setup: LoopSetup, state: dict):
    """Endless stream of batches from the saved position; advances state["epoch"/"batch"].

    Map-style data: one loader iterator for the whole run over an endless sampler of (index, epoch) keys,
    so its workers (and their prefetching) never stop at an epoch boundary. Streaming shards: a loader per
    epoch after `set_epoch`, skipping the batches already seen."""
    if sampler is not None and sampler.epoch_keys:
        sampler.endless = True
        sampler.start_at(state["epoch"], state["batch"])
        for batch in build_loader(dataset, setup.train.batch_size, setup.num_workers, sampler):
            state["batch"] += 1
            if state["batch"] == sampler.batches_per_epoch:
                state["epoch"], state["batch"] = state["epoch"] + 1, 0
            yield batch
    while True:
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(state["epoch"])
        if sampler is not None:
            sampler.start_at(state["epoch"], state["batch"])
            epoch_batches, skip = build_loader(dataset, setup.train.batch_size, setup.num_workers, sampler), 0
        else:
            # full batches only (each worker's last partial one is dropped): every rank, every queue write and
            # every gather sees the same batch size
            epoch_batches, skip = (
                build_loader(dataset, setup.train.batch_size, setup.num_workers, drop_last=True),
                state["batch"],
            )
        produced = 0
        for n, batch in enumerate(epoch_batches):
            produced += 1
            if n < skip:
                continue
            state["batch"] += 1
            yield batch
        if produced == 0:
            raise ValueError(
                f"an epoch of the training data gave no full batch of {setup.train.batch_size}: each loader "
                f"worker ({max(setup.num_workers, 1)}) of each process needs at least one batch of items"
            )
        state["epoch"], state["batch"] = state["epoch"] + 1, 0


class MicroStepLogs:
    """Sums of the recorded values over the micro-steps of one optimizer step; `mean()` averages each key
    over the micro-steps that produced it."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, out: TaskOutput) -> None:
        for key, value in out.detached_logs().items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.counts[key] = self.counts.get(key, 0) + 1

    def mean(self) -> dict[str, torch.Tensor]:
        return {key: total / self.counts[key] for key, total in self.sums.items()}


def task_output(out: object) -> TaskOutput:
    """`out` checked to be the task contract's return value."""
    if not isinstance(out, TaskOutput):
        raise TypeError(f"a task's forward must return avssl.tasks.base.TaskOutput, got {type(out).__name__}")
    return out


def _finite_everywhere(accelerator: Accelerator, loss: torch.Tensor) -> bool:
    flag = torch.tensor([1.0 if torch.isfinite(loss.detach()).all() else 0.0], device=accelerator.device)
    return bool(accelerator.gather(flag).min().item() > 0)


def _sampler(dataset, cfg: TrainConfig, accelerator: Accelerator) -> ResumableBatchSampler | None:
    """This process's resumable batch sampler for map-style data; None for streaming data."""
    if isinstance(dataset, torch.utils.data.IterableDataset):
        return None
    return ResumableBatchSampler(
        len(dataset),
        cfg.batch_size,
        cfg.seed,
        accelerator.process_index,
        accelerator.num_processes,
        epoch_keys=getattr(dataset, "accepts_epoch_keys", False),
    )


def _micro_steps(
    accelerator: Accelerator, model: nn.Module, stream, tracker: BadItemTracker, count: int
) -> tuple[bool, MicroStepLogs, float]:
    """Forward + backward over the `count` micro-batches of one optimizer step: (skip the step?, their
    logs, seconds spent waiting for data). A batch with no good item or a non-finite loss on any process
    skips the step (no backward from then on)."""
    skip, logs, data_wait = False, MicroStepLogs(), 0.0
    for _ in range(count):
        t0 = time.perf_counter()
        batch = next(stream)
        tracker.update(batch)
        data_wait += time.perf_counter() - t0
        if "video" not in batch and "audio" not in batch:
            skip = True  # every item of this batch was bad
            continue
        with accelerator.accumulate(model):
            out = task_output(model(to_device(batch, accelerator.device)))
            if not _finite_everywhere(accelerator, out.loss):
                skip = True
            if not skip:
                accelerator.backward(out.loss)
                logs.add(out)
    return skip, logs, data_wait


def _count_skipped(state: dict, limit: int) -> None:
    """Count a skipped optimizer step; raise NonFiniteLoss after `limit` in a row."""
    state["nonfinite_in_a_row"] += 1
    state["skipped_steps"] += 1
    if state["nonfinite_in_a_row"] >= limit:
        raise NonFiniteLoss(
            f"the loss was not finite (or the batch empty) for {limit} steps in a row, at step "
            f"{state['step']}: lower the lr, set train.clip_grad_norm, or check the data"
        )


def _resume(accelerator: Accelerator, resumable: dict, setup: LoopSetup) -> tuple[dict, BadItemTracker]:
    """The loop state and bad-item tracker: fresh, or restored (with `resumable`) from the latest checkpoint
    when `train.resume`."""
    state = {"step": 0, "epoch": 0, "batch": 0, "nonfinite_in_a_row": 0, "skipped_steps": 0, "bad": None}
    tracker = BadItemTracker(setup.max_bad_fraction)
    checkpoint = latest_checkpoint(setup.output_dir) if setup.train.resume else None
    if checkpoint is not None:
        state.update(load_checkpoint(accelerator, resumable, checkpoint))
        if state["bad"] is not None:
            tracker.load_state_dict(state["bad"])
    return state, tracker


def _finish(
    accelerator: Accelerator,
    logger: RunLogger,
    model: nn.Module,
    output_dir: Path,
    on_end: Callable[[], dict],
) -> None:
    """Close the log, export the model (main process), log `on_end()`'s evaluation, finish the trackers."""
    logger.close()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        export_model(model, output_dir)
    logger.log_evaluation(logger.last_step, on_end())
    # not end_training(): it destroys the process group, which the next run of this process (an incremental
    # stage, an evaluation barrier) still needs
    for experiment_tracker in accelerator.trackers:
        experiment_tracker.finish()


def run_training(
    task: nn.Module,
    dataset,
    setup: LoopSetup,
    on_step: Callable[[int, dict], dict | None] | None = None,
    on_end: Callable[[], dict] | None = None,
) -> dict:
    """Train `task` on `dataset` until `setup.train.max_steps`; returns the last logged metrics.

    `on_step(step, metrics)` is called after every optimizer step (tests use it to interrupt a run), and
    `on_end()` on every process after the final model is exported; the evaluation metrics they return go to
    the trackers (at that step, and at the last step).
    """
    cfg = setup.train
    accelerator = make_accelerator(cfg, setup.output_dir)
    set_seed(cfg.seed)
    optimizer = build_optimizer(task, setup.optim)
    scheduler = build_scheduler(optimizer, cfg.max_steps, setup.schedule)
    model, optimizer = accelerator.prepare(task, optimizer)
    resumable = {"model": model, "optimizer": optimizer, "scheduler": scheduler}
    sampler = _sampler(dataset, cfg, accelerator)
    state, tracker = _resume(accelerator, resumable, setup)
    logger = RunLogger(accelerator, setup.output_dir, cfg, state["step"], setup.hyperparameters())
    unwrapped = accelerator.unwrap_model(model)
    stream = _batches(dataset, sampler, setup, state)
    metrics: dict = {}
    model.train()
    while state["step"] < cfg.max_steps:
        step_start = time.perf_counter()
        skip, logs, data_wait = _micro_steps(
            accelerator, model, stream, tracker, cfg.gradient_accumulation_steps
        )
        if not skip and cfg.clip_grad_norm is not None:
            accelerator.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
        if skip:
            optimizer.zero_grad(set_to_none=True)
            _count_skipped(state, cfg.max_nonfinite_in_a_row)
        else:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            state["nonfinite_in_a_row"] = 0
        scheduler.step()
        state["step"] += 1
        if isinstance(unwrapped, StepHook):
            unwrapped.on_step_end(state["step"], cfg.max_steps)
        metrics = logger.step(
            state["step"],
            logs.mean() if not skip else {},
            scheduler.get_last_lr()[0],
            time.perf_counter() - step_start,
            data_wait,
            skipped=skip,
        )
        if on_step is not None:
            logger.log_evaluation(state["step"], on_step(state["step"], metrics) or {})
        if state["step"] % cfg.checkpoint_every == 0 or state["step"] == cfg.max_steps:
            state["bad"] = tracker.state_dict()
            save_checkpoint(
                accelerator, resumable, setup.output_dir, state["step"], state, cfg.keep_checkpoints
            )
    _finish(accelerator, logger, unwrapped, setup.output_dir, lambda: on_end() if on_end else {})
    return {**metrics, "skipped_steps": state["skipped_steps"], "bad_items": len(tracker.bad)}
