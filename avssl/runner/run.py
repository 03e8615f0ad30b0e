"""The one recipe runner: every recipe script is `run_recipe(argv, default_task=…)`.

1. parse `[--config FILE] key=value …` into the task's recipe config (`avssl.runner.specs.recipe_schema`);
2. prepare the run directory: synthetic data when `data.root` is empty, the resolved config.yaml, the seed;
3. build the training set and `LoopSetup` once; train with `avssl.train.loop.run_training` — one run, or the
   incremental stages of a `stages:` list (`avssl.stages.incremental`);
4. run the evaluators (`eval.evaluators`, default: the task's) every `eval.every` steps (before the last;
   single runs) and at the end: on the trained model of a single run, on every stage's exported model of an
   incremental run (each stage: forgetting is visible there); with `eval.keep_best`, each evaluation that
   improves that metric exports the model to RUN/best/ (`avssl.runner.best`; single runs).

Files: each evaluator's metrics go to RUN/eval_<name>.json (eval_localization.json, eval_segmentation.json,
…), all of them merged to RUN/eval.json, and a periodic evaluation at step N to RUN/eval_step_N.json, all
written atomically. Evaluation runs on rank 0 while the other processes wait at an explicit barrier: the
prediction helpers read the whole held-out set with a plain loader and the unwrapped model, so running them
on every rank would repeat the work, not share it; the barrier makes the waiting explicit instead of
leaving the other ranks blocked in the next step's gradient all-reduce.

Returns {"train": [the loop's last metrics per run or stage], "eval": {run_dir: merged metrics}}.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from avssl import distributed
from avssl.config import save_config, to_dict
from avssl.outputs import write_json
from avssl.runner.args import parse_recipe
from avssl.runner.best import update_best
from avssl.runner.evaluators import EVALUATORS
from avssl.runner.run_dir import claim_run_dir, flatten, release_lock
from avssl.runner.specs import recipe_of, recipe_schema
from avssl.tasks import build_task
from avssl.train.loop import LoopSetup, run_training


def evaluator_names(cfg: Any) -> list[str]:
    """`eval.evaluators` when set, else the task's defaults; unknown names are errors."""
    names = cfg.eval.evaluators if cfg.eval.evaluators is not None else list(recipe_of(cfg.task).evaluators)
    unknown = [n for n in names if n not in EVALUATORS]
    if unknown:
        raise SystemExit(f"unknown evaluator(s) {unknown}; registered: {', '.join(sorted(EVALUATORS))}")
    return names


def evaluate(task: nn.Module | None, cfg: Any, run_dir: Path, step: int | None = None) -> dict:
    """Every evaluator on `task` (in eval mode, its mode restored after), rank 0 only (the other ranks may
    pass None); writes the files (see the module docstring) and returns the merged metrics ({} on the other
    ranks). Every rank leaves through the barrier."""
    merged: dict = {}
    if distributed.rank() == 0 and task is not None:
        was_training = task.training
        task.eval()
        try:
            for name in evaluator_names(cfg):
                metrics = EVALUATORS[name](task, cfg, run_dir)
                if metrics is None:
                    continue
                if step is None:
                    write_json(run_dir / f"eval_{name}.json", metrics)
                merged.update(metrics)
        finally:
            task.train(was_training)
        if merged:
            write_json(run_dir / ("eval.json" if step is None else f"eval_step_{step}.json"), merged)
            scalars = {k: v for k, v in merged.items() if isinstance(v, (int, float, str))}
            print(json.dumps({"step": step, **scalars} if step is not None else scalars), flush=True)
    distributed.barrier()
    return merged


def hyperparameters(cfg: Any) -> dict:
    """The resolved config as flat {dotted key: value}, for the trackers."""
    return flatten(json.loads(json.dumps(to_dict(cfg), default=str)))


def _prepare(cfg: Any) -> Any:
    """Synthetic data if needed, the resolved config.yaml (main process), every RNG seeded (so the model
    built next is the same on every run and process); returns the training set."""
    from accelerate.utils import set_seed

    spec, run = recipe_of(cfg.task), Path(cfg.output_dir)
    spec.synthesize(cfg, run)
    set_seed(cfg.train.seed)
    if distributed.rank() == 0:
        save_config(cfg, run / "config.yaml")
    return spec.dataset(cfg)


def _train_stages(cfg: Any, dataset, setup: LoopSetup) -> tuple[list[dict], dict]:
    """The incremental stages, then every stage's exported model evaluated."""
    from avssl.inference.load import load_run
    from avssl.stages.incremental import run_incremental, stage_dirs

    results = run_incremental(cfg, dataset, setup, lambda model_cfg: build_task(cfg.task, model_cfg))
    evaluations = {}
    for run_dir in stage_dirs(cfg.output_dir, cfg.stages):
        task = load_run(run_dir)[0] if distributed.rank() == 0 and evaluator_names(cfg) else None
        evaluations[str(run_dir)] = evaluate(task, cfg, run_dir)
    return results, evaluations


def run_recipe(argv: Sequence[str] | None, default_task: str) -> dict:
    """Train (and evaluate) the run a recipe command line describes; see the module docstring. The run
    directory is claimed first (`avssl.runner.run_dir`: lock, same config on resume, no silent restart)."""
    cfg = parse_recipe(argv, default_task, recipe_schema)
    recipe_of(cfg.task).resolve(cfg)
    distributed.init_from_launcher(cfg.train.process_group_timeout_s)
    evaluator_names(cfg)  # fail on a misspelt evaluator before training, not after
    run = Path(cfg.output_dir)
    claim_run_dir(cfg, run)
    try:
        return _run(cfg, run)
    finally:
        if distributed.rank() == 0:
            release_lock(run)


def _run(cfg: Any, run: Path) -> dict:
    """The claimed run: train (single or incremental stages), evaluate."""
    dataset = _prepare(cfg)
    setup = LoopSetup(
        cfg.train,
        cfg.optim,
        cfg.schedule,
        run,
        cfg.data.num_workers,
        cfg.data.max_bad_fraction,
        hyperparameters(cfg),
    )
    if getattr(cfg, "stages", None):
        results, evaluations = _train_stages(cfg, dataset, setup)
        return {"train": results, "eval": evaluations}
    task = build_task(cfg.task, cfg.model)
    every = cfg.eval.every

    final: dict = {}

    def periodic(step: int, metrics: dict) -> dict | None:
        if every and step % every == 0 and step < cfg.train.max_steps:
            evaluation = evaluate(task, cfg, run, step)
            update_best(task, cfg, run, evaluation, step)
            return evaluation
        return None

    def at_end() -> dict:
        final.update(evaluate(task, cfg, run))
        update_best(task, cfg, run, final, cfg.train.max_steps)
        return final

    result = run_training(task, dataset, setup, on_step=periodic, on_end=at_end)
    return {"train": [result], "eval": {str(run): final}}
