"""Run logging: `metrics.jsonl` (one object per logged step), a tqdm bar on the main process, and the
Accelerate trackers `train.trackers` chooses (none by default; `tensorboard`, `wandb`, or `auto` = every
one installed): they get the resolved hyperparameters once, the training metrics every `log_every` steps
and the evaluation metrics (`eval/<name>`, nested keys joined by `/`)."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from tqdm import tqdm

from avssl.train.config import TrainConfig

METRICS_FILE = "metrics.jsonl"


def trackers_available() -> list[str]:
    """Accelerate trackers whose packages are importable."""
    return [
        name
        for name, module in (("tensorboard", "tensorboard"), ("wandb", "wandb"))
        if importlib.util.find_spec(module) is not None
    ]


def resolve_trackers(choice: list[str] | str, available: list) -> list:
    """The trackers `train.trackers` asks for: `auto` → `available` (the installed ones); a list must name
    installed packages (one line otherwise)."""
    if choice == "auto":
        return list(available)
    missing = [name for name in choice if importlib.util.find_spec(name) is None]
    if missing:
        raise SystemExit(f"train.trackers names {missing}, not installed: pip install {' '.join(missing)}")
    return list(choice)


def scalars(tree: dict, prefix: str = "") -> dict[str, float]:
    """The numbers of a nested metrics dict, keys joined by `/` (booleans and strings left out)."""
    flat: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(scalars(value, name))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def hparam_values(hparams: dict) -> dict:
    """Hyperparameters as the trackers take them (TensorBoard: int, float, str, bool): other values as JSON."""
    return {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v) for k, v in hparams.items()}


def read_metrics(output_dir: str | Path) -> list[dict]:
    """All logged objects of a run, in order."""
    path = Path(output_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class RunLogger:
    """Averages a step's recorded values (the loss and every log of the task's output) over processes and
    over the optimizer steps since the last written line, writes the JSONL log (main process) and drives
    the progress bar. A value is averaged over the steps that recorded it (a log a task writes only now
    and then is not diluted by the steps without it).

    On resume, log lines after the resumed step (written before the interruption) are dropped, so the
    log reads as one run.
    """

    def __init__(
        self, accelerator: Accelerator, output_dir: Path, cfg: TrainConfig, resume_step: int, hparams: dict
    ):
        self.accelerator, self.cfg = accelerator, cfg
        self.path = Path(output_dir) / METRICS_FILE
        self.global_batch = cfg.batch_size * accelerator.num_processes * cfg.gradient_accumulation_steps
        self.bar = None
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.steps, self.seconds, self.waiting = 0, 0.0, 0.0
        self.last_step = resume_step
        if accelerator.is_main_process:
            kept = [m for m in read_metrics(output_dir) if m.get("step", 0) <= resume_step]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(m) + "\n" for m in kept))
            tmp.replace(self.path)
            if cfg.progress_bar:
                self.bar = tqdm(total=cfg.max_steps, initial=resume_step, desc="train", dynamic_ncols=True)
            if accelerator.log_with:
                accelerator.init_trackers("avssl", config=hparam_values(hparams))

    def step(
        self,
        step: int,
        parts: dict[str, torch.Tensor],
        lr: float,
        seconds: float,
        data_wait: float,
        skipped: bool,
    ) -> dict:
        """Record one optimizer step; every `log_every` steps write and return the averaged metrics.

        `parts` must hold the same keys on every process (they are reduced one by one, in sorted order)."""
        for key in sorted(parts):
            value = parts[key].to(self.accelerator.device).float().reshape(1)
            reduced = self.accelerator.reduce(value, reduction="mean")
            self.sums[key] = self.sums.get(key, 0.0) + float(reduced.item())
            self.counts[key] = self.counts.get(key, 0) + 1
        self.steps += 1
        self.last_step = step
        self.seconds += seconds
        self.waiting += data_wait
        if self.bar is not None:
            self.bar.update(1)
        if step % self.cfg.log_every != 0 and step != self.cfg.max_steps:
            return {}
        metrics = {
            "step": step,
            **{k: v / self.counts[k] for k, v in self.sums.items()},
            "lr": lr,
            "samples_per_s": self.global_batch * self.steps / max(self.seconds, 1e-9),
            "data_wait_fraction": self.waiting / max(self.seconds, 1e-9),
            "time": time.time(),
        }
        if skipped:
            metrics["skipped"] = True
        if self.accelerator.is_main_process:
            with self.path.open("a") as f:
                f.write(json.dumps(metrics) + "\n")
            if self.bar is not None and "loss" in metrics:
                self.bar.set_postfix(loss=f"{metrics['loss']:.4f}", sps=f"{metrics['samples_per_s']:.1f}")
            if self.accelerator.log_with:
                self.accelerator.log({k: v for k, v in metrics.items() if isinstance(v, float)}, step=step)
        self.sums, self.counts, self.steps, self.seconds, self.waiting = {}, {}, 0, 0.0, 0.0
        return metrics

    def log_evaluation(self, step: int, metrics: dict) -> None:
        """An evaluation's numbers to the trackers as `eval/<key>` at `step` (main process)."""
        if self.accelerator.is_main_process and self.accelerator.log_with and metrics:
            self.accelerator.log(scalars(metrics, "eval"), step=step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
