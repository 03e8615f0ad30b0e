"""Every shipped YAML config (recipes/configs/*.yaml, avssl/configs/*.yaml) loads into its recipe schema:
no unknown keys, every value of the right type. A config's `task` picks the schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from avssl.config import load_config, read_yaml
from avssl.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted([*(ROOT / "recipes" / "configs").glob("*.yaml"), *(ROOT / "avssl" / "configs").glob("*.yaml")])


def _localization(task: str) -> type:
    from avssl.train.localization import recipe_schema

    return recipe_schema(task)


def _segmentation(task: str) -> type:
    from avssl.train.segmentation import SegmentationRecipe

    return SegmentationRecipe


def _av_contrastive(task: str) -> type:
    from recipes.av_contrastive import AVContrastiveRecipe

    return AVContrastiveRecipe


def _binaural(task: str) -> type:
    from recipes.binaural_multissl import BinauralMultiSSLRecipe

    return BinauralMultiSSLRecipe


def _image(task: str) -> type:
    from recipes.multissl_image import ImageMultiSSLRecipe

    return ImageMultiSSLRecipe


# task name → the recipe schema its configs mirror
SCHEMAS = {
    "av_contrastive": _av_contrastive,
    "lvs": _localization,
    "ezvsl": _localization,
    "ssl_tie": _localization,
    "avs": _segmentation,
    "binaural_multissl": _binaural,
    "image_multissl": _image,
}


def test_every_task_has_a_schema_and_a_config() -> None:
    assert set(SCHEMAS) == set(TASKS)
    assert {read_yaml(path)["task"] for path in CONFIGS} == set(TASKS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_config_loads_into_its_recipe_schema(path: Path) -> None:
    task = read_yaml(path)["task"]
    cfg = load_config(SCHEMAS[task](task), path)
    assert cfg.task == task and isinstance(cfg.model, TASKS[task][0])
