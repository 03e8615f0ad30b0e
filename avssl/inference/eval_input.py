"""The test-time input of a run with ``data.eval_input`` (an imported published model, see
:class:`avssl.data.loader.EvalInputConfig`) for the inference commands: a frame through the run's own
``data.eval_transforms`` at its native size, and the audio rule for windows shorter than the clip."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from avssl.config import from_dict, to_dict
from avssl.data.datasets.base import fit_audio
from avssl.data.loader import DataConfig, data_transforms
from avssl.transforms import Compose, pipeline_normalization


@dataclass(frozen=True)
class PipelineFrameInput:
    """uint8 (N, H, W, 3) frames → float (N, 3, s, s) through a run's evaluation pipeline (each frame as a
    one-frame clip, the pipeline's resize/crop sized by ``data.size``): the same tensor the run's benchmark
    evaluation feeds the model for that image."""

    pipeline: Compose
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def of_run(cls, run_data: dict) -> PipelineFrameInput:
        data = from_dict(DataConfig, to_dict(run_data))
        mean, std = pipeline_normalization(data.eval_transforms) or ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
        return cls(data_transforms(data, train=False), data.size, tuple(mean), tuple(std))

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        clips = [self.pipeline({"video": f.permute(2, 0, 1)[None].contiguous()})["video"] for f in frames]
        return torch.stack([c[:, 0] for c in clips])  # each (C, 1, s, s) → (N, C, s, s)


def run_audio_rule(run_config: dict) -> str:
    """How the run fills an audio window that runs past the end of a file: "tile" or "pad"."""
    eval_input = run_config.get("data", {}).get("eval_input")
    return "pad" if eval_input is None else str(eval_input.get("short_audio", "tile"))


def run_window_s(run_config: dict) -> float | None:
    """The audio window a run was made for when it states one (``data.duration_s`` of a run with
    ``data.eval_input``), else None."""
    data = run_config.get("data", {})
    return float(data.get("duration_s", 1.0)) if data.get("eval_input") is not None else None


__all__ = ["PipelineFrameInput", "fit_audio", "run_audio_rule", "run_window_s"]
