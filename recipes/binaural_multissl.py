"""Binaural multi-task self-supervision: spatial alignment, temporal sync and temporal gap, trained as one
task, jointly, or incrementally (stage by stage with distillation from the previous stage).

    accelerate launch recipes/binaural_multissl.py --config recipes/configs/binaural_multissl_joint.yaml \
        data.root=/data/FAIR-Play output_dir=runs/binaural_joint

Configs: `binaural_multissl_single.yaml` (one pretext: `model.strategy.pretexts=[sync]` picks it),
`binaural_multissl_joint.yaml` (all three, weighted sum or `model.strategy.uncertainty=true`),
`binaural_multissl_incremental.yaml` (`stages:` list; each stage in OUTPUT/stages/NN_name/, finished stages
are skipped on rerun, the current one resumes). With `data.root` empty it writes a synthetic FAIR-Play-layout
set (sources panned by their x position with ILD/ITD) into OUTPUT/synthetic.

After training it scores every trained pretext task on `eval.split` (accuracy and chance, percent) and, when
the data has class labels (the synthetic set does), kNN / linear probes of the visual and audio features;
written to RUN/eval.json of every run directory it trained (each stage: forgetting is visible there).
What to expect on the synthetic set: see README "Binaural multi-SSL" for the measured table.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from avssl import distributed
from avssl.data.loader import DataConfig
from avssl.recipe import parse_recipe_args, prepare_run, synthesize_if_empty
from avssl.tasks import build_task
from avssl.tasks.binaural_multissl import BinauralMultiSSLConfig
from avssl.train.config import OptimConfig, ScheduleConfig, TrainConfig
from avssl.train.incremental import StageConfig, run_multissl


def binaural_data() -> DataConfig:
    """4 s windows of 2-channel audio with 16 frames at 64 px; no flips or crops (they would change which
    side a source is on, the very thing the spatial pretext asks)."""
    return DataConfig(
        layout="fairplay",
        duration_s=4.0,
        fps=4.0,
        size=64,
        channels=2,
        transforms=[{"name": "resize"}, {"name": "center_crop"}, {"name": "normalize"}],
    )


@dataclass
class MultiSSLEvalConfig:
    """Held-out evaluation after training: split (None = skip), questions per clip, probes on/off."""

    split: str | None = "val"
    repeats: int = 4
    seed: int = 0
    probe: bool = True


@dataclass
class BinauralMultiSSLRecipe:
    """The whole run: YAML mirrors it; `key=value` overrides use its dotted paths."""

    task: str = "binaural_multissl"
    output_dir: str = "runs/binaural_multissl"
    synthetic_items: int = 96
    data: DataConfig = field(default_factory=binaural_data)
    model: BinauralMultiSSLConfig = field(default_factory=BinauralMultiSSLConfig)
    stages: list[StageConfig] = field(default_factory=list)
    eval: MultiSSLEvalConfig = field(default_factory=MultiSSLEvalConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


def evaluate_run(run_dir: Path, cfg: BinauralMultiSSLRecipe) -> dict:
    """Pretext accuracy of every pretext with a trained head so far and (labelled data) feature probes."""
    from avssl.evaluation.multissl import eval_dataset, feature_probe, pretext_accuracy
    from avssl.inference.load import load_run

    task, _ = load_run(run_dir)
    names = _tasks_so_far(run_dir, cfg) if cfg.stages else task.active_pretexts
    test = eval_dataset(cfg.data, cfg.eval.split)
    out: dict = {"pretexts": task.active_pretexts, "pretext": pretext_accuracy(task, test, names, cfg.eval.repeats, cfg.eval.seed)}
    if cfg.eval.probe and all(item.label is not None for item in test.items):
        train = eval_dataset(cfg.data, cfg.data.split)
        num_classes = 1 + max(i.label for i in train.items + test.items)
        out["probe"] = feature_probe(task, train, test, num_classes)
    (run_dir / "eval.json").write_text(json.dumps(out, indent=2))
    return out


def _tasks_so_far(run_dir: Path, cfg: BinauralMultiSSLRecipe) -> list[str]:
    """Tasks of the stages up to and including the one in `run_dir` (first appearance order)."""
    from avssl.train.incremental import stage_dirs

    dirs = stage_dirs(cfg.output_dir, cfg.stages)
    upto = dirs.index(run_dir) + 1 if run_dir in dirs else len(dirs)
    return list(dict.fromkeys(n for s in cfg.stages[:upto] for n in s.pretexts))


def main(argv: Sequence[str] | None = None) -> dict:
    """Train (and evaluate); returns {"train": [loop results], "eval": {run_dir: metrics}}."""
    cfg = parse_recipe_args(BinauralMultiSSLRecipe, argv)
    synthesize_if_empty(cfg.data, Path(cfg.output_dir), layout="fairplay", n=cfg.synthetic_items)
    dataset = prepare_run(cfg, cfg.data, train=True)
    results, run_dirs = run_multissl(cfg, dataset, lambda model_cfg: build_task(cfg.task, model_cfg))
    evaluations = {}
    if cfg.eval.split is not None and distributed.rank() == 0:
        evaluations = {str(d): evaluate_run(d, cfg) for d in run_dirs}
    # no barrier after the evaluation: the other processes have nothing to wait for, and a long
    # evaluation on rank 0 must not run into the process group's timeout
    return {"train": results, "eval": evaluations}


if __name__ == "__main__":
    main(sys.argv[1:])
