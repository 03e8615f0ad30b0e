"""Incremental multi-SSL: pretext tasks learned stage by stage, each stage a run of the one training loop.

A recipe config with a non-empty `stages` list runs its stages in order. Stage k trains in its own run
directory `OUTPUT/stages/{k:02d}_{name}/` (config.yaml, checkpoints/, model/): it starts from stage k−1's
final weights and, when its distillation settings ask for it, keeps a frozen copy of stage k−1 as the
teacher (`task.attach_teacher(load_teacher(previous stage's run directory))`). Every stage's checkpoints
and final model are kept.

With `distill.replay_buffer` > 0 (and `replay_weight` > 0) a stage k ≥ 1 rehearses the earlier tasks on a
replay memory (`avssl.stages.replay`) written into its run directory before it trains: an equal share of
the buffer per earlier stage, stage k−1's clips drawn from the training data, older ones kept from stage
k−1's memory. The task gets it through `task.attach_replay(memory)`.

A stage's config.yaml is the recipe config of that stage (`stages` emptied) plus `stage`: its name, index,
teacher run directory and replay memory file (the model config holds no paths to other runs).

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
from avssl.stages.replay import MEMORY_FILE, ReplayMemory, fill_memory
from avssl.stages.teacher import load_teacher
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


def stage_config(cfg: Any, k: int) -> Any:
    """The recipe config of stage k: its pretexts, distillation, length and run directory (`stages` emptied)."""
    stage: StageConfig = cfg.stages[k]
    out = copy.deepcopy(cfg)
    out.stages = []
    out.output_dir = str(stage_dirs(cfg.output_dir, cfg.stages)[k])
    out.model.strategy.pretexts = list(stage.pretexts)
    if stage.distill is not None:
        out.model.distill = copy.deepcopy(stage.distill)
    if stage.max_steps is not None:
        out.train.max_steps = stage.max_steps
    return out


def needs_teacher(distill: DistillConfig) -> bool:
    """A stage keeps the previous one as its teacher when any forgetting control is on."""
    return max(distill.output_weight, distill.feature_weight, distill.replay_weight) > 0


def ensure_memory(task: nn.Module, scfg: Any, k: int, run_dir: Path, previous: Path, dataset) -> Path | None:
    """Write stage k's replay memory (rank 0, atomic, once: a resumed stage reuses it) when its
    distillation asks for a replay buffer; returns its path (None: no memory). Every process waits for
    the file at a barrier."""
    d = scfg.model.distill
    if d.replay_buffer <= 0 or d.replay_weight <= 0:
        return None
    if not hasattr(task, "attach_replay"):
        raise ValueError(f"{type(task).__name__} has no replay memory: set distill.replay_buffer to 0")
    path = run_dir / MEMORY_FILE
    if distributed.rank() == 0 and not path.is_file():
        older = previous / MEMORY_FILE
        memory = fill_memory(
            dataset,
            d.replay_buffer,
            k,
            ReplayMemory.load(older) if older.is_file() else None,
            seed=scfg.train.seed,
        )
        memory.save(path)
    distributed.barrier()
    return path


def stage_links(scfg: Any, run_dir: Path, previous: Path | None) -> dict:
    """Stage k's references to other files, recorded as `stage` in its config.yaml: the teacher's run
    directory and the replay memory file (None when the stage has none)."""
    d = scfg.model.distill
    teacher = previous is not None and needs_teacher(d)
    memory = previous is not None and d.replay_buffer > 0 and d.replay_weight > 0
    return {
        "teacher": str(previous) if teacher else None,
        "replay_memory": str(run_dir / MEMORY_FILE) if memory else None,
    }


def _stage_task(scfg: Any, k: int, run_dir: Path, previous: Path | None, dataset, build) -> nn.Module:
    """Stage k's task: built from its config, started from the previous stage's weights, with the
    previous stage attached as its teacher and its replay memory attached (when its distillation asks)."""
    from accelerate.utils import set_seed
    from safetensors.torch import load_file

    set_seed(scfg.train.seed)
    task = build(scfg.model)
    if previous is None:
        return task
    memory = ensure_memory(task, scfg, k, run_dir, previous, dataset)
    if needs_teacher(scfg.model.distill):
        task.attach_teacher(load_teacher(previous))
    # the stage starts where the previous one ended
    task.load_state_dict(load_file(str(previous / "model" / "model.safetensors")), strict=True)
    if memory is not None:
        task.attach_replay(ReplayMemory.load(memory))
    return task


def run_incremental(cfg: Any, dataset, setup: LoopSetup, build: Callable[[Any], nn.Module]) -> list[dict]:
    """Run every unfinished stage of `cfg.stages` (see the module docstring); one result dict per stage
    ({"stage", "run_dir", "skipped"} + the loop's last metrics)."""
    from avssl.config import save_config, to_dict

    results, previous = [], None
    for k, run_dir in enumerate(stage_dirs(cfg.output_dir, cfg.stages)):
        name = cfg.stages[k].name
        if stage_finished(run_dir):
            results.append({"stage": name, "run_dir": str(run_dir), "skipped": True})
            previous = run_dir
            continue
        scfg = stage_config(cfg, k)
        if distributed.rank() == 0:
            links = {"name": name, "index": k, **stage_links(scfg, run_dir, previous)}
            save_config({**to_dict(scfg), "stage": links}, run_dir / "config.yaml")
        distributed.barrier()
        task = _stage_task(scfg, k, run_dir, previous, dataset, build)
        stage_setup = dataclasses.replace(setup, train=scfg.train, output_dir=run_dir)
        metrics = run_training(task, dataset, stage_setup)
        results.append({"stage": name, "run_dir": str(run_dir), "skipped": False, **metrics})
        previous = run_dir
    return results
