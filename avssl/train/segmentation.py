"""Audio-visual segmentation runs (AVSBench S4 / MS3, TPAVI): the recipe config schema, training with
periodic mIoU / F evaluation on the test split, the final evaluation. `recipes/avs_segmentation.py` is a
thin caller of `main`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from avssl import distributed
from avssl.data.loader import DataConfig
from avssl.recipe import parse_recipe_args, prepare_run, synthesize_if_empty
from avssl.tasks import build_task
from avssl.tasks.avs import AVSConfig
from avssl.train.config import OptimConfig, ScheduleConfig, TrainConfig
from avssl.train.loop import LoopSetup, run_training


@dataclass
class SegmentationEvalConfig:
    """Where and how to score: the test split of `root` (empty: data.root), AVSBench metrics."""

    root: str = ""
    f_mode: Literal["per-frame", "avsbench"] = "per-frame"
    batch_size: int = 4  # videos per evaluation batch (the released F depends on it in "avsbench" mode)
    every: int = 0  # steps between evaluations during training (0: only at the end)


def segmentation_data() -> DataConfig:
    """A whole AVSBench video per sample: 5 frames (one per second) and 5 s of audio, 224 px, no cropping
    (the masks must stay aligned with the frames)."""
    return DataConfig(
        layout="avsbench-s4",
        duration_s=5.0,
        fps=1.0,
        size=224,
        transforms=[{"name": "resize"}, {"name": "center_crop"}, {"name": "normalize"}],
        eval_transforms=[{"name": "resize"}, {"name": "center_crop"}, {"name": "normalize"}],
    )


@dataclass
class SegmentationRecipe:
    """The `avs_segmentation` recipe config (YAML: recipes/configs/avs_s4.yaml, avs_ms3.yaml)."""

    task: str = "avs"
    output_dir: str = "runs/avs_s4"
    data: DataConfig = field(default_factory=segmentation_data)
    model: AVSConfig = field(default_factory=AVSConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    eval: SegmentationEvalConfig = field(default_factory=SegmentationEvalConfig)


def benchmark_of(cfg: SegmentationRecipe) -> str:
    if cfg.data.layout not in ("avsbench-s4", "avsbench-ms3"):
        raise SystemExit(
            f"avs_segmentation: data.layout must be avsbench-s4 or avsbench-ms3, got {cfg.data.layout!r}"
        )
    return cfg.data.layout


def evaluate_run(task, cfg: SegmentationRecipe, out: Path) -> dict:
    """Predict the test split, save RUN/predictions.npz and the metrics JSON `out`."""
    from avssl.evaluation.segmentation import evaluate_segmentation, save_predictions
    from avssl.evaluation.segmentation_predict import avsbench_test_dataset, predict_segmentation

    benchmark, root = benchmark_of(cfg), cfg.eval.root or cfg.data.root
    dataset = avsbench_test_dataset(benchmark, root, cfg.data)
    predictions = predict_segmentation(task, dataset, cfg.eval.batch_size, cfg.data.num_workers)
    save_predictions(out.parent / "predictions.npz", predictions)
    metrics = evaluate_segmentation(benchmark, root, predictions, cfg.eval.f_mode, cfg.eval.batch_size)
    out.write_text(json.dumps(metrics, indent=1))
    return metrics


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; returns the final {"mIoU", "F", "num_frames", "f_mode"}."""
    cfg = parse_recipe_args(SegmentationRecipe, argv)
    if cfg.task != "avs":
        raise SystemExit(f"avs_segmentation: task must be 'avs', got {cfg.task!r}")
    run = Path(cfg.output_dir)
    synthesize_if_empty(cfg.data, run, layout=benchmark_of(cfg), n=64)
    dataset = prepare_run(cfg, cfg.data, train=True)
    task = build_task(cfg.task, cfg.model)
    setup = LoopSetup(
        cfg.train, cfg.optim, cfg.schedule, run, cfg.data.num_workers, cfg.data.max_bad_fraction
    )

    def periodic_eval(step: int, metrics: dict) -> None:
        if (
            cfg.eval.every
            and step % cfg.eval.every == 0
            and step < cfg.train.max_steps
            and distributed.rank() == 0
        ):
            result = evaluate_run(task, cfg, run / f"eval_step_{step}.json")
            print(f"step {step}: mIoU {result['mIoU']:.2f} F {result['F']:.3f}", flush=True)

    run_training(task, dataset, setup, on_step=periodic_eval)
    if distributed.rank() != 0:
        return {}
    result = evaluate_run(task, cfg, run / "eval_segmentation.json")
    print(json.dumps(result))
    return result
