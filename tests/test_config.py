"""Typed config: YAML mirrors dataclasses, dotted overrides parsed to the field's type, clear errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from avssl.config import ConfigError, load_config, read_yaml, save_config


@dataclass
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    name: Literal["adamw", "sgd"] = "adamw"


@dataclass
class Train:
    max_steps: int = 10
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    clip_grad: float | None = None
    optim: Optim = field(default_factory=Optim)


@dataclass
class Root:
    output_dir: str = "runs/x"
    size: list[int] = field(default_factory=lambda: [112, 112])
    debug: bool = False
    train: Train = field(default_factory=Train)


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  max_steps: 5\n  optim:\n    lr: 0.1\n")
    cfg = load_config(
        Root,
        path,
        [
            "train.optim.lr=3e-4",
            "size=[64, 48]",
            "debug=true",
            "train.clip_grad=1",
            "train.mixed_precision=bf16",
            "output_dir=runs/y",
        ],
    )
    assert cfg.train.max_steps == 5 and cfg.train.optim.lr == pytest.approx(3e-4)
    assert cfg.size == [64, 48] and cfg.debug is True and cfg.train.clip_grad == 1.0
    assert cfg.train.mixed_precision == "bf16" and cfg.output_dir == "runs/y"
    assert cfg.train.optim.betas == (0.9, 0.999) and cfg.train.optim.name == "adamw"
    assert load_config(Root, None, ["train.clip_grad=null"]).train.clip_grad is None


def test_save_round_trip(tmp_path):
    cfg = load_config(Root, None, ["train.optim.betas=[0.5, 0.6]"])
    save_config(cfg, tmp_path / "run" / "config.yaml")
    assert read_yaml(tmp_path / "run" / "config.yaml")["train"]["optim"]["betas"] == [0.5, 0.6]
    assert load_config(Root, tmp_path / "run" / "config.yaml") == cfg


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.max_stepz=3"], "unknown config key 'train.max_stepz'"),
        (["train.max_steps=three"], "config key 'train.max_steps': expected an int, got 'three'"),
        (["train.optim.lr=fast"], "config key 'train.optim.lr': expected a float"),
        (["train.mixed_precision=fp8"], "config key 'train.mixed_precision': 'fp8' is not one of"),
        (["debug=maybe"], "config key 'debug': expected a bool"),
        (["train.optim.betas=[1, 2, 3]"], "config key 'train.optim.betas': expected 2 items"),
        (["train=5"], "config key 'train': expected a mapping"),
        (["noequals"], "override 'noequals' is not of the form key=value"),
    ],
)
def test_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as info:
        load_config(Root, None, overrides)
    assert message in str(info.value)


def test_unknown_key_in_yaml_and_missing_or_broken_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  optim:\n    momentum: 0.9\n")
    with pytest.raises(ConfigError, match="unknown config key 'train.optim.momentum'"):
        load_config(Root, bad)
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(Root, tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="broken.yaml is not valid YAML"):
        load_config(Root, broken)


@dataclass
class Recipe:
    """A recipe whose sections' defaults differ from the section types' own defaults."""

    train: Train = field(default_factory=lambda: Train(max_steps=99, optim=Optim(lr=0.5, name="sgd")))
    maybe: Optim | None = field(default_factory=lambda: Optim(lr=0.25))


def test_a_partial_section_patches_the_recipe_default_not_the_type_default(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  mixed_precision: bf16\n")
    cfg = load_config(Recipe, path, ["train.optim.betas=[0.5, 0.6]", "maybe.name=sgd"])
    assert cfg.train.mixed_precision == "bf16" and cfg.train.max_steps == 99
    assert cfg.train.optim.lr == 0.5 and cfg.train.optim.name == "sgd" and cfg.train.optim.betas == (0.5, 0.6)
    assert cfg.maybe.lr == 0.25 and cfg.maybe.name == "sgd"
    untouched = load_config(Recipe)
    assert untouched.train.optim.lr == 0.5 and untouched.maybe.lr == 0.25
    assert load_config(Recipe, None, ["maybe=null"]).maybe is None
    # a fresh default every time: patching one config never changes the next one's defaults
    assert load_config(Recipe).train.optim.betas == (0.9, 0.999)


def test_localization_recipe_keeps_its_data_transforms_when_yaml_sets_data_keys():
    from avssl.runner.specs import localization_data, recipe_schema, ssl_tie_data

    cfg = load_config(recipe_schema("ssl_tie"), None, ["data.size=64", "data.layout=vggsound"])
    assert cfg.data.size == 64 and cfg.data.transforms == ssl_tie_data().transforms
    cfg = load_config(recipe_schema("lvs"), None, ["data.size=64", "data.layout=vggsound"])
    assert cfg.data.size == 64 and cfg.data.transforms == localization_data().transforms


def test_a_bare_yaml_no_is_the_word_where_the_choices_are_words(tmp_path):
    """YAML 1.1 reads `mixed_precision: no` as false; the Literal's choice "no" is what the user meant,
    from a file and from an override alike (a bool where no choice is spelled like it stays an error)."""
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  mixed_precision: no\n")
    assert load_config(Root, path).train.mixed_precision == "no"
    assert load_config(Root, None, ["train.mixed_precision=no"]).train.mixed_precision == "no"
    with pytest.raises(ConfigError, match="optim.name"):
        load_config(Root, None, ["train.optim.name=no"])


def test_a_numeric_part_indexes_a_list_of_the_file(tmp_path):
    from avssl.data.loader import DataConfig

    path = tmp_path / "views.yaml"
    path.write_text(
        "transforms:\n  - {name: clip_augment, scale: [0.3, 1.0]}\n  - {name: normalize}\n"
        "views:\n  - {audio: false}\n  - {audio: false, timing: {rule: distance, distance: power}}\n"
    )
    cfg = load_config(
        DataConfig,
        path,
        ["views.1.timing.distance=uniform", "transforms.0.per_frame=true", "views.0.audio=true"],
    )
    assert cfg.views[1].timing.distance == "uniform" and cfg.views[1].timing.rule == "distance"
    assert cfg.transforms[0] == {"name": "clip_augment", "scale": [0.3, 1.0], "per_frame": True}
    assert cfg.views[0].audio is True and cfg.views[1].audio is False
    with pytest.raises(ConfigError, match="override 'views.2.audio': '2' is not an index"):
        load_config(DataConfig, path, ["views.2.audio=true"])
    with pytest.raises(ConfigError, match="'first' is not an index of a list of 2 entries"):
        load_config(DataConfig, path, ["views.first.audio=true"])
