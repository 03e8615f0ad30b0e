"""The encoder registry: ``ENCODERS`` (name → builder) and ``build_encoder(cfg)``.

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
pvt_v2_b2 / pvt_v2_b5      image        (B, 3, H, W) | (B, 3, T, H, W)   (B, 512, H/32, W/32) | per frame
audio_small                waveform     (B, ch, S) (mixed to mono)       (B, 256, n_mels/s, frames/s)
=========================  ===========  ===============================  =================================

(sizes are ceilings; frames = 1 + S // hop.) ``weights`` in the config are loaded after building
(:mod:`avssl.encoders.weights`). ``OPTIONAL_ENCODERS`` names the entries that need an optional package
(building one without it raises ImportError saying what to install). Image encoders with a
``forward_features`` method (resnet*, small, pvt_v2_*) also give their 4 stage maps (multi-scale decoders).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial

from torch import nn

from avssl.encoders.audio import AudioResNetEncoder, LogMelFrontEnd
from avssl.encoders.binaural import BinauralFrontEnd, BinauralResNetEncoder, SmallBinauralEncoder
from avssl.encoders.config import AudioFrontEndConfig, BinauralFrontEndConfig, EncoderConfig, FlowConfig
from avssl.encoders.motion import MotionEncoder, MotionSource
from avssl.encoders.pvt import PVTv2Encoder
from avssl.encoders.small import SmallAudioEncoder, SmallVisualEncoder
from avssl.encoders.vggish import VGGish, vggish_patches
from avssl.encoders.video import PyTorchVideoArch, PyTorchVideoEncoder, VideoResNetArch, VideoResNetEncoder
from avssl.encoders.visual import ResNet2dEncoder, ResNetArch
from avssl.encoders.weights import LoadReport, WeightsError, load_encoder_weights, read_state_dict

EncoderBuilder = Callable[[EncoderConfig], nn.Module]


def _visual_channels(cfg: EncoderConfig) -> int:
    return 3 if cfg.in_channels is None else cfg.in_channels


def _require(cfg: EncoderConfig, fixed_channels: bool, stride32: bool) -> None:
    """Options that do not apply to an encoder must stay at their defaults (rather than be ignored)."""
    if fixed_channels and cfg.in_channels is not None:
        raise ValueError(f"encoder {cfg.name!r} fixes its input channels: leave in_channels unset")
    if stride32 and cfg.output_stride != 32:
        raise ValueError(f"encoder {cfg.name!r} has no output_stride option: leave it at 32")


def _resnet2d(arch: ResNetArch, cfg: EncoderConfig) -> nn.Module:
    return ResNet2dEncoder(arch, _visual_channels(cfg), cfg.output_stride)


def _video_resnet(arch: VideoResNetArch, cfg: EncoderConfig) -> nn.Module:
    _require(cfg, fixed_channels=False, stride32=True)
    return VideoResNetEncoder(arch, _visual_channels(cfg))


def _pytorchvideo(arch: PyTorchVideoArch, cfg: EncoderConfig) -> nn.Module:
    _require(cfg, fixed_channels=False, stride32=True)
    return PyTorchVideoEncoder(arch, _visual_channels(cfg))


def _audio_resnet(arch: ResNetArch, cfg: EncoderConfig) -> nn.Module:
    _require(cfg, fixed_channels=True, stride32=False)
    return AudioResNetEncoder(cfg.audio, arch, cfg.output_stride)


def _small(cfg: EncoderConfig) -> nn.Module:
    return SmallVisualEncoder(_visual_channels(cfg), output_stride=cfg.output_stride)


def _small_context(cfg: EncoderConfig) -> nn.Module:
    return SmallVisualEncoder(_visual_channels(cfg), output_stride=cfg.output_stride, context=2)


def _audio_small(cfg: EncoderConfig) -> nn.Module:
    _require(cfg, fixed_channels=True, stride32=False)
    return SmallAudioEncoder(cfg.audio, output_stride=cfg.output_stride)


def _vggish(cfg: EncoderConfig) -> nn.Module:
    _require(cfg, fixed_channels=True, stride32=True)
    return VGGish(cfg.audio.sample_rate)


def _pvt(arch: str, cfg: EncoderConfig) -> nn.Module:
    _require(cfg, fixed_channels=True, stride32=True)
    return PVTv2Encoder(arch)


def _binaural_resnet(arch: ResNetArch, cfg: EncoderConfig) -> nn.Module:
    _require(cfg, fixed_channels=True, stride32=False)
    return BinauralResNetEncoder(cfg.binaural, arch, cfg.output_stride)


def _binaural_small(cfg: EncoderConfig) -> nn.Module:
    _require(cfg, fixed_channels=True, stride32=False)
    return SmallBinauralEncoder(cfg.binaural, output_stride=cfg.output_stride)


def _motion(source: MotionSource, arch: VideoResNetArch, cfg: EncoderConfig) -> nn.Module:
    _require(cfg, fixed_channels=True, stride32=True)
    return MotionEncoder(source, arch, cfg.flow)


ENCODERS: dict[str, EncoderBuilder] = {
    "resnet18": partial(_resnet2d, "resnet18"),
    "resnet50": partial(_resnet2d, "resnet50"),
    "r3d_18": partial(_video_resnet, "r3d_18"),
    "r2plus1d_18": partial(_video_resnet, "r2plus1d_18"),
    "x3d_s": partial(_pytorchvideo, "x3d_s"),
    "slow_r50": partial(_pytorchvideo, "slow_r50"),
    "audio_resnet18": partial(_audio_resnet, "resnet18"),
    "audio_resnet50": partial(_audio_resnet, "resnet50"),
    "vggish": _vggish,
    "binaural_resnet18": partial(_binaural_resnet, "resnet18"),
    "binaural_small": _binaural_small,
    "motion_diff_r3d_18": partial(_motion, "diff", "r3d_18"),
    "motion_diff_r2plus1d_18": partial(_motion, "diff", "r2plus1d_18"),
    "motion_flow_r3d_18": partial(_motion, "flow", "r3d_18"),
    "motion_flow_r2plus1d_18": partial(_motion, "flow", "r2plus1d_18"),
    "small": _small,
    "small_context": _small_context,
    "audio_small": _audio_small,
    "pvt_v2_b2": partial(_pvt, "pvt_v2_b2"),
    "pvt_v2_b5": partial(_pvt, "pvt_v2_b5"),
}
OPTIONAL_ENCODERS: dict[str, str] = {"pvt_v2_b2": "timm", "pvt_v2_b5": "timm"}  # name → package it needs


def build_encoder(cfg: EncoderConfig) -> nn.Module:
    """Build ``ENCODERS[cfg.name]`` and load ``cfg.weights`` into it (if set).

    Raises KeyError for an unknown name and :class:`WeightsError` (naming the file) when the weights
    cannot be read or, with ``cfg.strict``, do not fit; non-strict mismatches are warned about.
    """
    if cfg.name not in ENCODERS:
        raise KeyError(f"unknown encoder {cfg.name!r}; registered: {', '.join(sorted(ENCODERS))}")
    encoder = ENCODERS[cfg.name](cfg)
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
    "AudioFrontEndConfig",
    "AudioResNetEncoder",
    "BinauralFrontEnd",
    "BinauralFrontEndConfig",
    "BinauralResNetEncoder",
    "EncoderBuilder",
    "EncoderConfig",
    "FlowConfig",
    "LoadReport",
    "LogMelFrontEnd",
    "MotionEncoder",
    "PyTorchVideoEncoder",
    "ResNet2dEncoder",
    "SmallBinauralEncoder",
    "VGGish",
    "VideoResNetEncoder",
    "WeightsError",
    "build_encoder",
    "load_encoder_weights",
    "read_state_dict",
    "vggish_patches",
]
