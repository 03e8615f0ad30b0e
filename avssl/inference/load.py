"""Load a trained run directory for inference: the task rebuilt from `config.yaml`, weights from
`model/model.safetensors` (or the latest checkpoint when the run has not finished).

A run travels: the path may be a run directory or its `model/` folder alone (`config.yaml` +
`model.safetensors`), and the encoders' initial weights (`weights:`, VGGish's `pca_params:` — ImageNet /
AudioSet files on the machine that trained it) are not re-read, since the trained state dict replaces
them; so a copied run loads without those files. (An optical-flow encoder's `flow.raft_weights` is still
read: RAFT refuses to build without it.)"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file

from avssl.config import ConfigError, from_saved_dict, read_yaml
from avssl.data.loader import DataConfig
from avssl.encoders import ENCODERS
from avssl.hub import resolve_run
from avssl.tasks import TASKS
from avssl.transforms import pipeline_normalization

_INITIAL_FILES = ("weights", "pca_params")  # encoder keys naming files read at build time only


class RunError(FileNotFoundError):
    """A run directory is missing or incomplete; the message names what is missing."""


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """(task in eval mode on `device`, the run's config as a dict). `run_dir`: a run directory, its `model/`
    folder, or ``hf-hub:ORG/NAME[@REVISION]`` (:mod:`avssl.hub`)."""
    run = resolve_run(run_dir)
    if not run.is_dir():
        raise RunError(f"{run}: run directory not found")
    config_file = run / "model" / "config.yaml"
    if not config_file.is_file():
        config_file = run / "config.yaml"
    if not config_file.is_file():
        raise RunError(f"{run}: no config.yaml (is this a run directory?)")
    config = read_yaml(config_file)
    task = build_trained_task(config, config_file)
    weights = _weights_file(run)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise RunError(f"{weights}: not a readable safetensors file ({err})") from None
    missing, unexpected = task.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RunError(
            f"{weights}: weights do not fit the {config['task']} model (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    return task.to(device).eval(), config


def build_trained_task(config: dict, config_file: Path | str) -> torch.nn.Module:
    """The task a run's `config` names, built to receive its trained weights: every encoder section's
    initial `weights` / `pca_params` unset (see the module docstring). ConfigError naming `config_file`."""
    task_name = config.get("task")
    if task_name not in TASKS:
        raise ConfigError(f"{config_file}: unknown or missing task {task_name!r}")
    config_cls, builder = TASKS[task_name]
    # runs written before the stage runner attached teachers and memories themselves keep an incremental
    # stage's references to other runs' files in their model config: not part of the model, dropped
    # (unless the task's config has such a field: iboot's frozen `teacher` encoder is part of its model)
    own = {f.name for f in dataclasses.fields(config_cls)}
    legacy = ("teacher", "replay_memory")
    model = {k: v for k, v in (config.get("model") or {}).items() if k in own or k not in legacy}
    model_cfg: Any = from_saved_dict(config_cls, without_initial_weights(model))
    return builder(model_cfg)


def without_initial_weights(section: Any) -> Any:
    """A copy of a model config section in which every encoder section (a mapping whose `name` is an
    encoder of the registry) has `weights` and `pca_params` unset; everything else as it is."""
    if isinstance(section, list):
        return [without_initial_weights(v) for v in section]
    if not isinstance(section, dict):
        return section
    out = {k: without_initial_weights(v) for k, v in section.items()}
    if out.get("name") in ENCODERS:
        out.update({k: None for k in _INITIAL_FILES if k in out})
    return out


@dataclass(frozen=True)
class FrameInput:
    """How a run's model sees a frame: resized to ``size`` × ``size`` (the whole frame, so a map covers all
    of it; bilinear with antialiasing) and normalised with the run's own ``mean``/``std``."""

    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) frames → normalised float (N, 3, size, size)."""
        x = frames.permute(0, 3, 1, 2).float() / 255.0
        x = F.interpolate(
            x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False
        )
        mean = torch.tensor(self.mean, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std


def run_frame_input(run_config: dict) -> FrameInput:
    """The run's frame input, rebuilt from its config: ``data.size`` and the ``normalize`` step of its
    ``data.eval_transforms`` (the schema's default pipeline when the config has none). ConfigError when the
    run's evaluation pipeline does not normalise. A run with ``data.eval_input`` (an imported published
    model): its ``data.eval_transforms`` on the native frame (:class:`avssl.inference.eval_input.PipelineFrameInput`)."""
    data = run_config.get("data", {})
    if data.get("eval_input") is not None:
        from avssl.inference.eval_input import PipelineFrameInput

        return PipelineFrameInput.of_run(data)
    specs = data.get("eval_transforms", DataConfig().eval_transforms)
    normalization = pipeline_normalization(specs)
    if normalization is None:
        raise ConfigError(
            "the run's data.eval_transforms has no normalize step: cannot rebuild its frame input"
        )
    mean, std = normalization
    return FrameInput(int(data.get("size", 224)), tuple(mean), tuple(std))


def _weights_file(run: Path) -> Path:
    for final in (run / "model" / "model.safetensors", run / "model.safetensors"):  # a run, its model/
        if final.is_file():
            return final
    from avssl.rundir import latest_checkpoint

    checkpoint = latest_checkpoint(run)
    if checkpoint is not None and (checkpoint / "model.safetensors").is_file():
        return checkpoint / "model.safetensors"
    raise RunError(f"{run}: no model/model.safetensors and no checkpoint with weights")
