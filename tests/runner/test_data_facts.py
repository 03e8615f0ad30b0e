"""Facts of the data stated once: the audio front ends take `data.sample_rate` and the on-device
de-normalisations take the data pipeline's `normalize` step; a restatement that disagrees is a ConfigError
naming both keys."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from avssl.config import ConfigError, from_dict
from avssl.data.loader import DataConfig
from avssl.encoders import AudioCNNConfig, MotionConfig, Visual2dConfig, build_encoder
from avssl.runner.args import parse_recipe
from avssl.runner.data_facts import derive_data_facts
from avssl.tasks.ssl_tie import SSLTIE, SSLTIEConfig

HALF = [0.5, 0.5, 0.5]


@dataclass
class _Recipe:
    data: DataConfig = field(default_factory=DataConfig)
    model: SSLTIEConfig = field(
        default_factory=lambda: SSLTIEConfig(
            visual=Visual2dConfig(name="small", output_stride=16),
            audio=AudioCNNConfig(name="audio_small", output_stride=16),
        )
    )
    motion: list[MotionConfig] = field(default_factory=lambda: [MotionConfig(name="motion_diff_r3d_18")])


def _resolve(data: dict, model: dict | None = None, motion: list | None = None) -> _Recipe:
    raw = {"data": data, "model": model or {}}
    if motion is not None:
        raw["motion"] = motion
    return derive_data_facts(from_dict(_Recipe, raw))


def test_the_audio_front_end_takes_the_data_rate() -> None:
    cfg = _resolve({"sample_rate": 8000})
    assert cfg.model.audio.audio.sample_rate == 8000
    assert build_encoder(cfg.model.audio).frontend.sample_rate == 8000
    assert SSLTIE(cfg.model).sample_rate == 8000  # the waveform shift of the second view, in samples
    same = _resolve({"sample_rate": 8000}, {"audio": {"audio": {"sample_rate": 8000}}})
    assert same.model.audio.audio.sample_rate == 8000


def test_a_mismatched_sample_rate_is_an_error_naming_both_keys() -> None:
    with pytest.raises(ConfigError, match=r"model\.audio\.audio\.sample_rate.*data\.sample_rate"):
        _resolve({"sample_rate": 8000}, {"audio": {"audio": {"sample_rate": 16000}}})


def test_the_normalisation_is_the_data_pipelines() -> None:
    eval_specs = [
        {"name": "resize"},
        {"name": "center_crop"},
        {"name": "normalize", "mean": HALF, "std": HALF},
    ]
    train_specs = [{"name": "random_resized_crop"}, {"name": "normalize", "mean": HALF, "std": HALF}]
    cfg = _resolve({"transforms": train_specs, "eval_transforms": eval_specs})
    assert cfg.model.appearance.mean == (0.5, 0.5, 0.5) and cfg.model.appearance.std == (0.5, 0.5, 0.5)
    assert cfg.motion[0].flow.mean == (0.5, 0.5, 0.5)
    default = _resolve({})
    assert default.model.appearance.mean == (0.485, 0.456, 0.406)
    with pytest.raises(
        ConfigError, match=r"motion\[0\]\.flow\.mean.*normalize step of data\.eval_transforms"
    ):
        _resolve({}, motion=[{"name": "motion_diff_r3d_18", "flow": {"mean": HALF}}])
    with pytest.raises(ConfigError, match="data.transforms .* data.eval_transforms"):
        _resolve({"transforms": train_specs})


def test_recipe_arguments_are_resolved_with_the_data_facts() -> None:
    cfg = parse_recipe(["data.sample_rate=8000"], "ssl_tie", lambda task: _Recipe)
    assert cfg.model.audio.audio.sample_rate == 8000
    with pytest.raises(ConfigError, match="data.sample_rate"):
        parse_recipe(
            ["data.sample_rate=8000", "model.audio.audio.sample_rate=16000"], "ssl_tie", lambda task: _Recipe
        )
