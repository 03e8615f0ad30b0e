"""Incremental multi-SSL: pretext tasks learned stage by stage, each stage a run of the one training loop.

A recipe config with a non-empty `stages` list runs its stages in order. Stage k trains in its own run
directory `OUTPUT/stages/{k:02d}_{name}/` (config.yaml, checkpoints/, model/): it starts from stage k−1's
final weights and, when its distillation settings ask for it, keeps a frozen copy of stage k−1 as the
teacher (`model.teacher` = that directory). Every stage's checkpoints and final model are kept.

With `distill.replay_buffer` > 0 (and `replay_weight` > 0) a stage k ≥ 1 rehearses the earlier tasks on a
replay memory (`avssl.train.replay`) written into its run directory before it trains: an equal share of
the buffer per earlier stage, stage k−1's clips drawn from the training data, older ones kept from stage
k−1's memory. The model gets the file as `model.replay_memory`.

Resume works per stage: rerunning the command skips the stages whose `model/` exists and resumes the
current one from its latest checkpoint (the loop's exact resume), so an interrupted incremental run
continues where it stopped.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from avssl import distributed
from avssl.tasks.multissl_common import DistillConfig
from avssl.train.loop import LoopSetup, run_training


@dataclass
class StageConfig:
    """One stage: its name (directory), the pretexts it trains, its length (None = train.max_steps)
    and its forgetting control (None = the model's `distill` section)."""

    name: str
    pretexts: list[str]
    max_steps: int | None = None
    distill: DistillConfig | None = None


def stage_dirs(output_dir: str | Path, stages: list[StageConfig]) -> list[Path]:
    """Run directory of every stage, in order."""
    return [Path(output_dir) / "stages" / f"{k:02d}_{s.name}" for k, s in enumerate(stages)]


def stage_finished(run_dir: Path) -> bool:
    """True once the stage exported its final model."""
    return (run_dir / "model" / "model.safetensors").is_file()


def stage_config(cfg: Any, k: int, previous: Path | None) -> Any:
    """The recipe config of stage k: its pretexts and distillation, its run directory, its teacher."""
    stage: StageConfig = cfg.stages[k]
    out = copy.deepcopy(cfg)
    out.stages = []
    out.output_dir = str(stage_dirs(cfg.output_dir, cfg.stages)[k])
    out.model.strategy.pretexts = list(stage.pretexts)
    if stage.distill is not None:
        out.model.distill = copy.deepcopy(stage.distill)
    d = out.model.distill
    needs_teacher = max(d.output_weight, d.feature_weight, d.replay_weight) > 0
    out.model.teacher = str(previous) if previous is not None and needs_teacher else None
    if stage.max_steps is not None:
        out.train.max_steps = stage.max_steps
    return out


def ensure_memory(scfg: Any, k: int, run_dir: Path, previous: Path, dataset) -> None:
    """Write stage k's replay memory (rank 0, atomic, once: a resumed stage reuses it) and point the
    stage's model config at it, when its distillation asks for a replay buffer."""
    from avssl.train.replay import MEMORY_FILE, ReplayMemory, fill_memory

    d = scfg.model.distill
    if d.replay_buffer <= 0 or d.replay_weight <= 0:
        return
    if not hasattr(scfg.model, "replay_memory"):
        raise ValueError(f"{type(scfg.model).__name__} has no replay memory: set distill.replay_buffer to 0")
    path = run_dir / MEMORY_FILE
    if distributed.rank() == 0 and not path.is_file():
        older = previous / MEMORY_FILE
        memory = fill_memory(dataset, d.replay_buffer, k, ReplayMemory.load(older) if older.is_file() else None,
                             seed=scfg.train.seed)
        memory.save(path)
    distributed.barrier()
    scfg.model.replay_memory = str(path)


def run_incremental(cfg: Any, dataset, setup: LoopSetup, build: Callable[[Any], nn.Module]) -> list[dict]:
    """Run every unfinished stage of `cfg.stages` (see the module docstring); one result dict per stage
    ({"stage", "run_dir", "skipped"} + the loop's last metrics)."""
    from accelerate.utils import set_seed
    from safetensors.torch import load_file

    from avssl.config import save_config

    results, previous = [], None
    for k, run_dir in enumerate(stage_dirs(cfg.output_dir, cfg.stages)):
        name = cfg.stages[k].name
        if stage_finished(run_dir):
            results.append({"stage": name, "run_dir": str(run_dir), "skipped": True})
            previous = run_dir
            continue
        scfg = stage_config(cfg, k, previous)
        if previous is not None:
            ensure_memory(scfg, k, run_dir, previous, dataset)
        if distributed.rank() == 0:
            save_config(scfg, run_dir / "config.yaml")
        distributed.barrier()
        set_seed(scfg.train.seed)
        task = build(scfg.model)
        if previous is not None:  # the stage starts where the previous one ended
            task.load_state_dict(load_file(str(previous / "model" / "model.safetensors")), strict=True)
        stage_setup = dataclasses.replace(setup, train=scfg.train, output_dir=run_dir)
        metrics = run_training(task, dataset, stage_setup)
        results.append({"stage": name, "run_dir": str(run_dir), "skipped": False, **metrics})
        previous = run_dir
    return results


def run_multissl(cfg: Any, dataset, build: Callable[[Any], nn.Module]) -> tuple[list[dict], list[Path]]:
    """One run (single task or joint: `cfg.stages` empty) or the incremental stages; returns the loop
    results and the run directories (the last one holds the final model)."""
    setup = LoopSetup(
        cfg.train,
        cfg.optim,
        cfg.schedule,
        Path(cfg.output_dir),
        cfg.data.num_workers,
        cfg.data.max_bad_fraction,
    )
    if cfg.stages:
        return run_incremental(cfg, dataset, setup, build), stage_dirs(cfg.output_dir, cfg.stages)
    return [run_training(build(cfg.model), dataset, setup)], [Path(cfg.output_dir)]
