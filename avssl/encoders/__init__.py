"""The encoder registry: ``ENCODERS`` (name → (family config class, builder)) and ``build_encoder(cfg)``.

Every encoder returns a feature map, never a pooled vector, and exposes ``out_dim`` (the map's channel
dimension D), ``in_channels`` and ``input_kind``:

=========================  ===========  ===============================  =================================
name                       input_kind   input                            output
=========================  ===========  ===============================  =================================
resnet18 / resnet50        image        (B, C, H, W) | (B, C, T, H, W)   (B, 512|2048, H/s, W/s) | per frame
                                                                         (B, D, T, H/s, W/s); s = 32 | 16
r3d_18 / r2plus1d_18       clip         (B, C, T, H, W)                  (B, 512, T/8, H/16, W/16)
x3d_s / slow_r50           clip         (B, C, T, H, W)                  (B, 192|2048, T, H/32, W/32)
audio_resnet18/50          waveform     (B, ch, S) (mixed to mono)       (B, 512|2048, n_mels/s, frames/s)
vggish                     waveform     (B, ch, S) (mixed to mono)       (B, 128, 1, n_patches)
binaural_resnet18          waveform     (B, 2, S)                        (B, 512, 257/s, frames/s)
binaural_small             waveform     (B, 2, S)                        (B, 256, 257/s, frames/s)
motion_{diff,flow}_r3d_18  clip         (B, 3, T, H, W)                  (B, 512, (T−1)/8, H/16, W/16)
motion_{diff,flow}_r2plus1d_18
small                      image        (B, C, H, W) | (B, C, T, H, W)   (B, 256, H/s, W/s) | per frame
small_context              image        as small, + 2 dilated context blocks (receptive field ~111 px at s = 8)
small_3d                   clip         (B, C, T, H, W)                  (B, 128, T/4, H/16, W/16)
pvt_v2_b2 / pvt_v2_b5      image        (B, 3, H, W) | (B, 3, T, H, W)   (B, 512, H/32, W/32) | per frame
audio_small                waveform     (B, ch, S) (mixed to mono)       (B, 256, n_mels/s, frames/s)
=========================  ===========  ===============================  =================================

(sizes are ceilings; frames = 1 + S // hop.) Each family has its own config class holding only what
applies to it (:mod:`avssl.encoders.config`: ``Visual2dConfig`` for resnet*/small*, ``Video3dConfig``,
``AudioCNNConfig``, ``VGGishConfig``, ``BinauralConfig``, ``MotionConfig``, ``PVTConfig``); a task config
types its encoder sections ``AnyEncoderConfig``, so YAML is read into the class the section's ``name``
selects and a key of another family is an error naming it. ``weights`` in the config are loaded after building
(:mod:`avssl.encoders.weights`). ``OPTIONAL_ENCODERS`` names the entries that need an optional package
(building one without it raises ImportError saying what to install). Image encoders with a
``forward_features`` method (resnet*, small, pvt_v2_*) also give their 4 stage maps (multi-scale decoders).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from torch import nn

from avssl.config import ConfigError, Variants
from avssl.encoders.audio import AudioResNetEncoder, LogMelFrontEnd
from avssl.encoders.binaural import BinauralFrontEnd, BinauralResNetEncoder, SmallBinauralEncoder
from avssl.encoders.config import (
    DEFAULT_SAMPLE_RATE,
    AudioCNNConfig,
    AudioFrontEndConfig,
    BinauralConfig,
    BinauralFrontEndConfig,
    EncoderConfig,
    FlowConfig,
    MotionConfig,
    PVTConfig,
    VGGishConfig,
    Video3dConfig,
    Visual2dConfig,
)
from avssl.encoders.motion import MotionEncoder, MotionSource
from avssl.encoders.pvt import PVTv2Encoder
from avssl.encoders.small import SmallAudioEncoder, SmallVideoEncoder, SmallVisualEncoder
from avssl.encoders.vggish import VGGish, load_pca_params, vggish_patches
from avssl.encoders.video import PyTorchVideoArch, PyTorchVideoEncoder, VideoResNetArch, VideoResNetEncoder
from avssl.encoders.visual import ResNet2dEncoder, ResNetArch
from avssl.encoders.weights import LoadReport, WeightsError, load_encoder_weights, read_state_dict


def _channels(cfg: Visual2dConfig | Video3dConfig) -> int:
    return 3 if cfg.in_channels is None else cfg.in_channels


def _resnet2d(arch: ResNetArch, cfg: Visual2dConfig) -> nn.Module:
    return ResNet2dEncoder(arch, _channels(cfg), cfg.output_stride, cfg.dilate)


def _video_resnet(arch: VideoResNetArch, cfg: Video3dConfig) -> nn.Module:
    return VideoResNetEncoder(arch, _channels(cfg))


def _pytorchvideo(arch: PyTorchVideoArch, cfg: Video3dConfig) -> nn.Module:
    return PyTorchVideoEncoder(arch, _channels(cfg))


def _audio_resnet(arch: ResNetArch, cfg: AudioCNNConfig) -> nn.Module:
    return AudioResNetEncoder(cfg.audio, arch, cfg.output_stride, cfg.dilate)


def _small(context: int, cfg: Visual2dConfig) -> nn.Module:
    return SmallVisualEncoder(_channels(cfg), output_stride=cfg.output_stride, context=context)


def _small_3d(cfg: Video3dConfig) -> nn.Module:
    return SmallVideoEncoder(_channels(cfg))


def _audio_small(cfg: AudioCNNConfig) -> nn.Module:
    return SmallAudioEncoder(cfg.audio, output_stride=cfg.output_stride)


def _vggish(cfg: VGGishConfig) -> nn.Module:
    vggish = VGGish(DEFAULT_SAMPLE_RATE if cfg.sample_rate is None else cfg.sample_rate, cfg.postprocess)
    if cfg.pca_params is not None:
        load_pca_params(vggish, cfg.pca_params)
    return vggish


def _pvt(arch: str, cfg: PVTConfig) -> nn.Module:
    return PVTv2Encoder(arch)


def _binaural_resnet(arch: ResNetArch, cfg: BinauralConfig) -> nn.Module:
    return BinauralResNetEncoder(cfg.binaural, arch, cfg.output_stride)


def _binaural_small(cfg: BinauralConfig) -> nn.Module:
    return SmallBinauralEncoder(cfg.binaural, output_stride=cfg.output_stride)


def _motion(source: MotionSource, arch: VideoResNetArch, cfg: MotionConfig) -> nn.Module:
    return MotionEncoder(source, arch, cfg.flow)


# name → (the family config class a section naming it is read into, builder taking that config)
ENCODERS: dict[str, tuple[type[EncoderConfig], Callable[[Any], nn.Module]]] = {
    "resnet18": (Visual2dConfig, partial(_resnet2d, "resnet18")),
    "resnet50": (Visual2dConfig, partial(_resnet2d, "resnet50")),
    "small": (Visual2dConfig, partial(_small, 0)),
    "small_context": (Visual2dConfig, partial(_small, 2)),
    "r3d_18": (Video3dConfig, partial(_video_resnet, "r3d_18")),
    "r2plus1d_18": (Video3dConfig, partial(_video_resnet, "r2plus1d_18")),
    "x3d_s": (Video3dConfig, partial(_pytorchvideo, "x3d_s")),
    "slow_r50": (Video3dConfig, partial(_pytorchvideo, "slow_r50")),
    "small_3d": (Video3dConfig, _small_3d),
    "audio_resnet18": (AudioCNNConfig, partial(_audio_resnet, "resnet18")),
    "audio_resnet50": (AudioCNNConfig, partial(_audio_resnet, "resnet50")),
    "audio_small": (AudioCNNConfig, _audio_small),
    "vggish": (VGGishConfig, _vggish),
    "binaural_resnet18": (BinauralConfig, partial(_binaural_resnet, "resnet18")),
    "binaural_small": (BinauralConfig, _binaural_small),
    "motion_diff_r3d_18": (MotionConfig, partial(_motion, "diff", "r3d_18")),
    "motion_diff_r2plus1d_18": (MotionConfig, partial(_motion, "diff", "r2plus1d_18")),
    "motion_flow_r3d_18": (MotionConfig, partial(_motion, "flow", "r3d_18")),
    "motion_flow_r2plus1d_18": (MotionConfig, partial(_motion, "flow", "r2plus1d_18")),
    "pvt_v2_b2": (PVTConfig, partial(_pvt, "pvt_v2_b2")),
    "pvt_v2_b5": (PVTConfig, partial(_pvt, "pvt_v2_b5")),
}
OPTIONAL_ENCODERS: dict[str, str] = {"pvt_v2_b2": "timm", "pvt_v2_b5": "timm"}  # name → package it needs


def encoder_config_class(name: str) -> type[EncoderConfig]:
    """The family config class of the registry entry ``name`` (ConfigError naming the choices if unknown)."""
    if name not in ENCODERS:
        raise ConfigError(f"unknown encoder {name!r}; registered: {', '.join(sorted(ENCODERS))}")
    return ENCODERS[name][0]


# The type of an encoder section in a task config: read into the family class its ``name`` selects.
AnyEncoderConfig = Annotated[EncoderConfig, Variants("name", encoder_config_class)]


def build_encoder(cfg: EncoderConfig) -> nn.Module:
    """Build ``ENCODERS[cfg.name]`` and load ``cfg.weights`` into it (if set).

    Raises KeyError for an unknown name, TypeError when ``cfg`` is not the entry's family config, and
    :class:`WeightsError` (naming the file) when the weights cannot be read or, with ``cfg.strict``, do not
    fit; non-strict mismatches are warned about.
    """
    if cfg.name not in ENCODERS:
        raise KeyError(f"unknown encoder {cfg.name!r}; registered: {', '.join(sorted(ENCODERS))}")
    config_class, builder = ENCODERS[cfg.name]
    if type(cfg) is not config_class:
        raise TypeError(f"encoder {cfg.name!r} takes a {config_class.__name__}, got a {type(cfg).__name__}")
    encoder = builder(cfg)
    if cfg.weights is not None:
        report = load_encoder_weights(
            encoder, cfg.weights, cfg.weights_source, cfg.weights_prefix, cfg.strict
        )
        if not report.ok:
            warnings.warn(f"encoder {cfg.name!r} from {cfg.weights}: {report.describe()}", stacklevel=2)
    return encoder


__all__ = [
    "ENCODERS",
    "OPTIONAL_ENCODERS",
    "AnyEncoderConfig",
    "AudioCNNConfig",
    "AudioFrontEndConfig",
    "AudioResNetEncoder",
    "BinauralConfig",
    "BinauralFrontEnd",
    "BinauralFrontEndConfig",
    "BinauralResNetEncoder",
    "EncoderConfig",
    "FlowConfig",
    "LoadReport",
    "LogMelFrontEnd",
    "MotionConfig",
    "MotionEncoder",
    "PVTConfig",
    "PyTorchVideoEncoder",
    "ResNet2dEncoder",
    "SmallBinauralEncoder",
    "SmallVideoEncoder",
    "VGGish",
    "VGGishConfig",
    "Video3dConfig",
    "VideoResNetEncoder",
    "Visual2dConfig",
    "WeightsError",
    "build_encoder",
    "encoder_config_class",
    "load_encoder_weights",
    "read_state_dict",
    "vggish_patches",
]
