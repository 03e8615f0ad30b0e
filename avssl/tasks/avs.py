"""Audio-visual segmentation with TPAVI (Zhou et al., "Audio-Visual Segmentation", ECCV 2022; AVSBench).

Visual backbone with 4 stages (ResNet-50 as in the paper, PVT-v2 with timm, or the small CPU encoder),
audio encoder giving one embedding per frame (VGGish on 0.96 s log-mel patches as in the paper: a 5 s
clip gives 5 patches, one per frame), :class:`~avssl.heads.segmentation.AVSegmentationHead` (channel
reduction, TPAVI at `tpavi_stages`, RefineNet-style decoder) → one mask logit map per frame at the input
size. The structure and parameter shapes are the authors' released model's (the released checkpoints
import through :mod:`avssl.published.avsbench`).

As released, the audio extractor is frozen (`freeze_audio`: no gradient, kept in eval mode; the authors run
their pretrained VGGish under ``no_grad``), and its embedding passes a ReLU (`audio_relu`: the torchvggish
port the authors use ends its embedding layers with a ReLU, which avssl's TF-faithful VGGish leaves out).
A randomly initialised audio encoder (the small CPU demo) is trained with ``freeze_audio=false``.

Batch: `video` (B, 3, T, H, W), `audio` (B, ch, S) covering the T frames, `mask` (B, T, H, W) {0, 1},
`mask_valid` (B, T). Loss = BCE on the supervised frames (`supervise="first"`: frame 0 only, the S4
protocol; `"all"`: every frame that has a mask, MS3) + `avm_weight` · L_AVM (released: 0.5 for MS3, not used
for S4) + `dice_weight` · soft Dice (:func:`~avssl.losses.avs.frame_dice`; 0 as released, not in the paper:
a per-pixel mean BCE lets a small object's pixels be outvoted by the background, and a small model trained
from scratch on few videos under-segments). `zero_audio=True` feeds silence instead of the audio: the
audio-ignoring variant used as an ablation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.encoders import AnyEncoderConfig, VGGishConfig, Visual2dConfig, build_encoder
from avssl.heads.segmentation import AVSegmentationHead
from avssl.losses.avs import AudioVisualMappingLoss, frame_bce, frame_dice
from avssl.tasks.base import TaskOutput


@dataclass
class AVSConfig:
    """The AVS model and its losses (see the module docstring)."""

    visual: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="resnet50"))
    audio: AnyEncoderConfig = field(default_factory=lambda: VGGishConfig(name="vggish"))
    channels: int = 256
    tpavi_stages: list[int] = field(default_factory=lambda: [0, 1, 2, 3])
    supervise: Literal["first", "all"] = "first"
    avm_weight: float = 0.0
    dice_weight: float = 0.0
    zero_audio: bool = False
    freeze_audio: bool = True
    audio_relu: bool = True


def per_frame_audio(features: Tensor, frames: int) -> Tensor:
    """Audio encoder map (B, D, f, t) (or (B, D)) → one embedding per frame (B, T, D): mean over f, then
    the time axis averaged into T equal bins (identity when t = T, e.g. VGGish on 5 s for 5 frames)."""
    if features.ndim == 2:
        return features[:, None].expand(-1, frames, -1)
    if features.ndim != 4:
        raise ValueError(f"expected an audio map (B, D, f, t), got shape {tuple(features.shape)}")
    return F.adaptive_avg_pool1d(features.mean(dim=2), frames).transpose(1, 2)


class AVSegmenter(nn.Module):
    """Encoders + TPAVI/FPN head; ``forward(batch)`` → TaskOutput(loss, {"loss/bce", ["loss/avm"]});
    ``segment(batch)`` → (B, T, H, W) mask probabilities. It embeds nothing (``embeds`` is empty)."""

    embeds: frozenset[str] = frozenset()

    def __init__(self, cfg: AVSConfig) -> None:
        super().__init__()
        self.visual_encoder = build_encoder(cfg.visual)
        if not hasattr(self.visual_encoder, "forward_features"):
            raise ValueError(
                f"visual encoder {cfg.visual.name!r} has no multi-scale features (forward_features)"
            )
        if len(self.visual_encoder.feature_dims) != 4:
            raise ValueError(
                f"visual encoder {cfg.visual.name!r} gives {len(self.visual_encoder.feature_dims)} feature "
                "levels; the AVS head needs 4 (the small encoder: output_stride 16 or 32)"
            )
        self.audio_encoder = build_encoder(cfg.audio)
        self.head = AVSegmentationHead(
            self.visual_encoder.feature_dims, self.audio_encoder.out_dim, cfg.channels, cfg.tpavi_stages
        )
        self.avm = AudioVisualMappingLoss()
        self.cfg = cfg
        if cfg.freeze_audio:
            self.audio_encoder.requires_grad_(False)
            self.audio_encoder.eval()

    def train(self, mode: bool = True) -> AVSegmenter:
        """As ``nn.Module.train``, but a frozen audio encoder stays in eval mode (as released)."""
        super().train(mode)
        if self.cfg.freeze_audio:
            self.audio_encoder.eval()
        return self

    def audio_features(self, wave: Tensor, frames: int) -> Tensor:
        """Waveform (B, ch, S) → one embedding per frame (B, T, D_a) (frozen: without gradient)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.cfg.freeze_audio):
            features = self.audio_encoder(wave)
        return per_frame_audio(F.relu(features) if self.cfg.audio_relu else features, frames)

    def logits(self, batch: dict) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """(mask logits (B, T, H, W), per-TPAVI-stage (fused map, audio) pairs)."""
        video, wave = batch["video"], batch["audio"]
        if video.ndim == 4:
            video = video[:, :, None]
        if self.cfg.zero_audio:
            wave = torch.zeros_like(wave)
        stages = self.visual_encoder.forward_features(video)  # 4 × (B, D_i, T, h_i, w_i)
        audio = self.audio_features(wave, video.shape[2])  # (B, T, D_a)
        return self.head(stages, audio, tuple(video.shape[-2:]))

    def forward(self, batch: dict) -> TaskOutput:
        if "mask" not in batch:
            raise KeyError("the avs task trains on batches with masks (an AVSBench layout)")
        logits, fused = self.logits(batch)
        masks = batch["mask"]
        valid = batch.get("mask_valid", torch.ones(masks.shape[:2], dtype=torch.bool, device=masks.device))
        supervised = valid.clone()
        if self.cfg.supervise == "first":
            supervised[:, 1:] = False
        bce = frame_bce(logits, masks, supervised)
        out: dict[str, Tensor | float] = {"loss/bce": bce.detach()}
        loss = bce
        if self.cfg.dice_weight > 0:
            dice = frame_dice(logits, masks, supervised)
            loss = loss + self.cfg.dice_weight * dice
            out["loss/dice"] = dice.detach()
        if self.cfg.avm_weight > 0:
            avm = self.avm([(v, a) for v, a in fused], logits.flatten(0, 1))
            loss = loss + self.cfg.avm_weight * avm
            out["loss/avm"] = avm.detach()
        return TaskOutput(loss, out)

    @torch.no_grad()
    def segment(self, batch: dict) -> Tensor:
        """(B, T, H, W) probabilities sigmoid(logits) at the input frames' size."""
        return torch.sigmoid(self.logits(batch)[0])
