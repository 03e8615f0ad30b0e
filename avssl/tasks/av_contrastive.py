"""Cross-modal contrastive pretraining of a visual and an audio encoder.

Each clip's frames and its own audio window are a positive pair; every other clip of the global batch (all
processes) is a negative: symmetric cross-modal InfoNCE on projected, pooled features (audio-visual
instance discrimination: Arandjelović & Zisserman, "Look, Listen and Learn", ICCV 2017; Morgado et al.,
"Audio-Visual Instance Discrimination with Cross-Modal Agreement" (AVID), CVPR 2021; the symmetric,
temperature-scaled form of CLIP: Radford et al., "Learning Transferable Visual Models From Natural Language
Supervision", ICML 2021).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.encoders import AnyEncoderConfig, AudioCNNConfig, Visual2dConfig, build_encoder
from avssl.heads.projection import MLPHead
from avssl.losses.infonce import CrossModalInfoNCE
from avssl.tasks.base import TaskOutput, check_modality


@dataclass
class AVContrastiveConfig:
    """Encoders, projection heads and the loss's temperature."""

    visual: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="resnet18"))
    audio: AnyEncoderConfig = field(default_factory=lambda: AudioCNNConfig(name="audio_resnet18"))
    embed_dim: int = 128
    proj_hidden: int = 512
    proj_layers: int = 2
    temperature: float = 0.07
    learnable_temperature: bool = False


def pool_map(features: Tensor) -> Tensor:
    """Average over every axis after the channels: (B, D, …) → (B, D)."""
    return features.flatten(2).mean(2)


class AVContrastive(nn.Module):
    """`forward(batch)` → TaskOutput(loss, {"loss/infonce", ["logit_scale"]}); `embed(batch, "video" |
    "audio")` gives L2-normalised (B, embed_dim) embeddings for retrieval."""

    embeds = frozenset({"video", "audio"})

    def __init__(self, cfg: AVContrastiveConfig):
        super().__init__()
        self.visual_encoder = build_encoder(cfg.visual)
        self.audio_encoder = build_encoder(cfg.audio)
        self.visual_head = MLPHead(
            self.visual_encoder.out_dim, cfg.embed_dim, cfg.proj_hidden, cfg.proj_layers
        )
        self.audio_head = MLPHead(self.audio_encoder.out_dim, cfg.embed_dim, cfg.proj_hidden, cfg.proj_layers)
        self.loss = CrossModalInfoNCE(cfg.temperature, cfg.learnable_temperature)

    def embed_video(self, batch: dict) -> Tensor:
        """(B, C, T, H, W) video → (B, embed_dim), unit norm."""
        return F.normalize(self.visual_head(pool_map(self.visual_encoder(batch["video"]))), dim=1)

    def embed_audio(self, batch: dict) -> Tensor:
        """(B, channels, samples) waveform → (B, embed_dim), unit norm."""
        return F.normalize(self.audio_head(pool_map(self.audio_encoder(batch["audio"]))), dim=1)

    def embed(self, batch: dict, modality: str) -> Tensor:
        """(B, embed_dim) unit-norm embedding of the batch's `modality` ("video" or "audio")."""
        check_modality(self, modality)
        return self.embed_video(batch) if modality == "video" else self.embed_audio(batch)

    def forward(self, batch: dict) -> TaskOutput:
        loss = self.loss(self.embed_video(batch), self.embed_audio(batch))
        scale = getattr(self.loss, "logit_scale", None)
        logs: dict[str, Tensor | float] = {"loss/infonce": loss.detach()}
        if isinstance(scale, torch.Tensor):
            logs["logit_scale"] = scale.detach().exp()
        return TaskOutput(loss, logs)
