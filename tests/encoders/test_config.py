"""EncoderConfig through avssl.config (YAML-style dicts), and options that do not apply are errors."""

from __future__ import annotations

import pytest

from avssl.config import ConfigError, from_dict, to_dict
from avssl.encoders import EncoderConfig, build_encoder


def test_encoder_config_from_a_nested_mapping() -> None:
    data = {
        "name": "audio_resnet18",
        "weights": None,
        "output_stride": "16",
        "audio": {"n_mels": 128, "mel_scale": "htk", "mel_norm": "null", "f_max": 8000},
        "flow": {"mean": [0.5, 0.5, 0.5]},
    }
    cfg = from_dict(EncoderConfig, data)
    assert cfg.output_stride == 16 and cfg.audio.n_mels == 128 and cfg.audio.mel_norm is None
    assert cfg.audio.f_max == 8000.0 and cfg.flow.mean == (0.5, 0.5, 0.5)
    assert from_dict(EncoderConfig, to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="audio.n_mel"):
        from_dict(EncoderConfig, {"name": "vggish", "audio": {"n_mel": 64}})
    with pytest.raises(ConfigError, match="weights_source"):
        from_dict(EncoderConfig, {"name": "vggish", "weights_source": "torchvision"})


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (EncoderConfig(name="vggish", in_channels=3), "in_channels"),
        (EncoderConfig(name="binaural_resnet18", in_channels=1), "in_channels"),
        (EncoderConfig(name="r3d_18", output_stride=16), "output_stride"),
        (EncoderConfig(name="motion_diff_r3d_18", in_channels=2), "in_channels"),
    ],
)
def test_options_that_do_not_apply_are_errors(cfg: EncoderConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_encoder(cfg)
