"""Encoder configs through avssl.config: the section's `name` selects its family's config class, which
holds only the options that apply; keys of another family are errors naming the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from avssl.config import ConfigError, from_dict, from_saved_dict, load_config, read_yaml, to_dict
from avssl.encoders import (
    ENCODERS,
    AnyEncoderConfig,
    AudioCNNConfig,
    EncoderConfig,
    MotionConfig,
    Video3dConfig,
    Visual2dConfig,
    build_encoder,
    encoder_config_class,
)
from avssl.tasks.av_contrastive import AVContrastiveConfig


@dataclass
class _Model:
    visual: AnyEncoderConfig = field(
        default_factory=lambda: Visual2dConfig(name="resnet18", output_stride=16)
    )
    extra: AnyEncoderConfig | None = None


def test_a_section_is_read_into_the_family_its_name_selects() -> None:
    data = {
        "name": "audio_resnet18",
        "weights": None,
        "output_stride": "16",
        "audio": {"n_mels": 128, "mel_scale": "htk", "mel_norm": "null", "f_max": 8000},
    }
    cfg = from_dict(_Model, {"visual": data}).visual
    assert type(cfg) is AudioCNNConfig
    assert cfg.output_stride == 16 and cfg.audio.n_mels == 128 and cfg.audio.mel_norm is None
    assert cfg.audio.f_max == 8000.0
    assert from_dict(_Model, to_dict(_Model(visual=cfg))).visual == cfg
    motion = from_dict(_Model, {"extra": {"name": "motion_diff_r3d_18", "flow": {"mean": [0.5, 0.5, 0.5]}}})
    assert type(motion.extra) is MotionConfig and motion.extra.flow.mean == (0.5, 0.5, 0.5)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"name": "vggish", "audio": {"n_mels": 64}}, "unknown config key 'visual.audio'"),
        ({"name": "vggish", "in_channels": 3}, "unknown config key 'visual.in_channels'"),
        ({"name": "binaural_resnet18", "in_channels": 1}, "unknown config key 'visual.in_channels'"),
        ({"name": "r3d_18", "output_stride": 16}, "unknown config key 'visual.output_stride'"),
        ({"name": "motion_diff_r3d_18", "in_channels": 2}, "unknown config key 'visual.in_channels'"),
        ({"name": "audio_resnet18", "audio": {"n_mel": 64}}, "visual.audio.n_mel"),
        ({"name": "resnet18", "weights_source": "torchvision"}, "weights_source"),
        ({"name": "resnet19"}, "visual.name': unknown encoder 'resnet19'"),
    ],
)
def test_keys_that_do_not_apply_are_errors_naming_the_key(section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(_Model, {"visual": section})


def test_name_override_switches_family_and_the_default_patches_only_its_own_family() -> None:
    kept = from_dict(_Model, {"visual": {"name": "small"}}).visual
    assert type(kept) is Visual2dConfig and kept.output_stride == 16  # same family: the default patches it
    switched = from_dict(_Model, {"visual": {"name": "r3d_18"}}).visual
    assert switched == Video3dConfig(name="r3d_18")
    alone = from_dict(_Model, {"visual": {"output_stride": 8}}).visual  # name from the default
    assert alone == Visual2dConfig(name="resnet18", output_stride=8)
    with pytest.raises(ConfigError, match="extra.name"):
        from_dict(_Model, {"extra": {"weights": None}})


def test_resolved_av_contrastive_config_has_no_key_of_another_family(tmp_path) -> None:
    recipe = Path(__file__).parents[2] / "recipes" / "configs" / "av_contrastive.yaml"
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(read_yaml(recipe)["model"]))
    cfg = load_config(AVContrastiveConfig, path, ["visual.name=resnet50"])
    resolved = to_dict(cfg)
    assert cfg.visual == Visual2dConfig(name="resnet50")
    assert set(resolved["visual"]) == {f for f in to_dict(Visual2dConfig(name="x"))}
    assert set(resolved["audio"]) == {f for f in to_dict(AudioCNNConfig(name="x"))}
    for section in ("visual", "audio"):
        assert not {"flow", "binaural"} & set(resolved[section])
    assert "audio" not in resolved["visual"] and "in_channels" not in resolved["audio"]


def test_every_registry_entry_has_a_family_config_and_builds_only_from_it() -> None:
    for name, (config_class, _) in ENCODERS.items():
        assert issubclass(config_class, EncoderConfig) and config_class is not EncoderConfig
        assert encoder_config_class(name) is config_class
    with pytest.raises(TypeError, match="Visual2dConfig"):
        build_encoder(AudioCNNConfig(name="resnet18"))


def test_a_run_saved_before_family_configs_still_loads() -> None:
    """Earlier run directories saved every family's keys in each encoder section; they never applied."""
    every_family = {
        "weights": None, "weights_source": "encoder", "weights_prefix": "", "strict": True,
        "in_channels": None, "output_stride": 32,
        "audio": {"sample_rate": 16000, "n_mels": 64}, "binaural": {"sample_rate": 16000}, "flow": {"num_updates": 12},
    }  # fmt: skip
    saved = {
        "visual": {"name": "resnet18", **every_family},
        "audio": {"name": "audio_resnet18", **every_family},
    }
    with pytest.raises(ConfigError, match="unknown config key 'visual.audio'"):
        from_dict(AVContrastiveConfig, saved)
    cfg = from_saved_dict(AVContrastiveConfig, saved)
    assert cfg.visual == Visual2dConfig(name="resnet18")
    assert cfg.audio.audio.sample_rate == 16000 and not hasattr(cfg.audio, "in_channels")
    with pytest.raises(ConfigError, match="visual.output_stride"):  # a family's own keys are still checked
        from_saved_dict(AVContrastiveConfig, {"visual": {"name": "resnet18", "output_stride": 7}})
