"""A run directory made the way training leaves it (config.yaml + `export_model`'s model/), without training:
the task is built from a recipe config with overrides and its (seeded, initial) weights exported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from avssl.config import load_config, save_config
from avssl.runner.specs import recipe_schema
from avssl.tasks import build_task
from avssl.train.checkpoint import export_model

RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "configs"


def write_run(run: Path, task: str, overrides: list[str], seed: int = 0) -> torch.nn.Module:
    """`run` as a finished training run of `task` (recipe YAML + `overrides`); returns the exported task."""
    cfg = load_config(recipe_schema(task), RECIPES / f"{task}.yaml", [f"output_dir={run}", *overrides])
    run.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run / "config.yaml")
    torch.manual_seed(seed)
    model = build_task(task, cfg.model).eval()
    export_model(model, run)
    return model


@pytest.fixture(scope="session")
def make_run() -> Callable[..., torch.nn.Module]:
    """`make_run(run_dir, task, overrides, seed=0)` → the exported task (see :func:`write_run`)."""
    return write_run
