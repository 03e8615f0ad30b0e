"""The frozen teacher of an incremental stage: the previous stage's exported model."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from avssl.config import from_saved_dict, read_yaml
from avssl.tasks import TASKS
from avssl.tasks.multissl_common import freeze

# keys older run directories wrote into model configs (a stage's references to other runs' files); the
# stage runner now attaches teacher and memory itself, so these are dropped when such a config is read
LEGACY_MODEL_KEYS = ("teacher", "replay_memory")


def model_config(task_name: str, model: dict):
    """The model config dataclass of `task_name` from a run's `model` section (legacy keys dropped)."""
    config_cls = TASKS[task_name][0]
    return from_saved_dict(config_cls, {k: v for k, v in (model or {}).items() if k not in LEGACY_MODEL_KEYS})


def load_teacher(run_dir: str | Path) -> nn.Module:
    """The frozen model of a finished stage: its task rebuilt from `run_dir/model/config.yaml` with
    `run_dir/model/model.safetensors` loaded (strict), every parameter frozen, in eval mode."""
    from safetensors.torch import load_file

    model_dir = Path(run_dir) / "model"
    weights, config_file = model_dir / "model.safetensors", model_dir / "config.yaml"
    if not weights.is_file() or not config_file.is_file():
        raise FileNotFoundError(f"{run_dir}: the teacher stage has not finished (no {weights.name}/config)")
    config = read_yaml(config_file)
    teacher = TASKS[config["task"]][1](model_config(config["task"], config.get("model", {})))
    teacher.load_state_dict(load_file(str(weights)), strict=True)
    return freeze(teacher)
