"""Load a trained run directory for inference: the task rebuilt from `config.yaml`, weights from
`model/model.safetensors` (or the latest checkpoint when the run has not finished)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from avssl.config import ConfigError, from_dict, read_yaml
from avssl.tasks import TASKS


class RunError(FileNotFoundError):
    """A run directory is missing or incomplete; the message names what is missing."""


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """(task in eval mode on `device`, the run's config as a dict)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise RunError(f"{run}: run directory not found")
    config_file = run / "model" / "config.yaml"
    if not config_file.is_file():
        config_file = run / "config.yaml"
    if not config_file.is_file():
        raise RunError(f"{run}: no config.yaml (is this a run directory?)")
    config = read_yaml(config_file)
    task_name = config.get("task")
    if task_name not in TASKS:
        raise ConfigError(f"{config_file}: unknown or missing task {task_name!r}")
    config_cls, builder = TASKS[task_name]
    model_cfg: Any = from_dict(config_cls, config.get("model", {}))
    for training_only in ("teacher", "replay_memory"):  # incremental stages' references to other runs' files
        if hasattr(model_cfg, training_only):
            setattr(model_cfg, training_only, None)
    task = builder(model_cfg)
    weights = _weights_file(run)
    state = load_file(str(weights))
    missing, unexpected = task.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RunError(
            f"{weights}: weights do not fit the {task_name} model (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    return task.to(device).eval(), config


def _weights_file(run: Path) -> Path:
    final = run / "model" / "model.safetensors"
    if final.is_file():
        return final
    from avssl.rundir import latest_checkpoint

    checkpoint = latest_checkpoint(run)
    if checkpoint is not None and (checkpoint / "model.safetensors").is_file():
        return checkpoint / "model.safetensors"
    raise RunError(f"{run}: no model/model.safetensors and no checkpoint with weights")
