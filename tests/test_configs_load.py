"""Every shipped YAML config (recipes/configs/*.yaml, avssl/configs/*.yaml) loads into its recipe schema:
no unknown keys, every value of the right type. A config's `task` picks the schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from avssl.config import load_config, read_yaml
from avssl.runner.specs import recipe_schema
from avssl.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(
    [*(ROOT / "recipes" / "configs").glob("*.yaml"), *(ROOT / "avssl" / "configs").glob("*.yaml")]
)


def test_every_task_has_a_config() -> None:
    assert {read_yaml(path)["task"] for path in CONFIGS} == set(TASKS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_config_loads_into_its_recipe_schema(path: Path) -> None:
    task = read_yaml(path)["task"]
    cfg = load_config(recipe_schema(task), path)
    assert cfg.task == task and isinstance(cfg.model, TASKS[task][0])
