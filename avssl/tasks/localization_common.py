"""Pieces shared by the sound-localization tasks (LVS, EZ-VSL, SSL-TIE).

- :class:`AVLocalizer`: the base module: a visual and an audio encoder from the registry plus the
  :class:`~avssl.heads.localization.AudioVisualSimilarity` head; ``localize`` / ``embed`` (video and
  audio). The tasks subclass it once and add their loss.
- SSL-TIE's on-device view generation lives in :mod:`avssl.transforms.batched`.

Frames: the batch holds ``video`` (B, C, T, H, W). With ``frames="middle"`` only frame T // 2 is encoded
(the papers train on one frame per clip); with ``frames="mean"`` every frame is encoded and the feature maps
are averaged over T (:func:`avssl.heads.localization.reduce_time`).
"""

from __future__ import annotations

from typing import Protocol

import torch.nn.functional as F
from torch import Tensor, nn

from avssl.encoders import EncoderConfig, build_encoder
from avssl.heads.localization import (
    AudioPool,
    AudioVisualSimilarity,
    FrameMode,
    MapRenderConfig,
    cosine_map,
    reduce_time,
    render_map,
)
from avssl.tasks.base import check_modality


class LocalizerFields(Protocol):
    """The config fields every localization task has (its config dataclass defines them)."""

    visual: EncoderConfig
    audio: EncoderConfig
    embed_dim: int | None
    audio_pool: AudioPool
    frames: FrameMode
    render: MapRenderConfig


def select_frames(video: Tensor, mode: FrameMode) -> Tensor:
    """(B, C, T, H, W) -> the middle frame (B, C, H, W) for ``"middle"``, unchanged for ``"mean"``.

    A (B, C, H, W) input is returned as is (a still frame).
    """
    if video.ndim == 4:
        return video
    if video.ndim != 5:
        raise ValueError(f"expected video (B, C, T, H, W), got shape {tuple(video.shape)}")
    return video[:, :, video.shape[2] // 2] if mode == "middle" else video


class AVLocalizer(nn.Module):
    """Encoders + similarity head. ``localize(batch)`` -> (B, h, w) cosine maps (higher = sounding);
    ``embed(batch, "video" | "audio")`` -> (B, D) unit-norm embeddings."""

    embeds = frozenset({"video", "audio"})

    def __init__(self, cfg: LocalizerFields) -> None:
        super().__init__()
        self.visual_encoder = build_encoder(cfg.visual)
        self.audio_encoder = build_encoder(cfg.audio)
        self.head = AudioVisualSimilarity(
            self.visual_encoder.out_dim, self.audio_encoder.out_dim, cfg.embed_dim, cfg.audio_pool
        )
        self.frame_mode: FrameMode = cfg.frames
        self.render = cfg.render

    def frames(self, batch: dict) -> Tensor:
        """The frames to encode: (B, C, H, W), or (B, C, T, H, W) when averaging over T."""
        return select_frames(batch["video"], self.frame_mode)

    def visual_features(self, frames: Tensor) -> Tensor:
        """Raw encoder map (B, D_v, h, w) (averaged over T for 5-D input)."""
        return reduce_time(self.visual_encoder(frames), "mean")

    def visual_maps(self, frames: Tensor) -> Tensor:
        """Projected, unit-norm visual map (B, D, h, w)."""
        return self.head.visual(self.visual_features(frames))

    def audio_embedding(self, audio: Tensor) -> Tensor:
        """Waveform (B, ch, S) -> pooled, projected, unit-norm (B, D)."""
        return self.head.audio(self.audio_encoder(audio))

    def localize(self, batch: dict) -> Tensor:
        """(B, h, w) cosine between each clip's audio and every location of its frame, at the feature
        resolution (not resized, not normalised); higher = more likely the sounding region. Rendered as
        ``model.render`` says (:class:`~avssl.heads.localization.MapRenderConfig`; default: the raw map)."""
        maps = cosine_map(self.visual_maps(self.frames(batch)), self.audio_embedding(batch["audio"]))
        return render_map(maps, self.render)

    def embed(self, batch: dict, modality: str) -> Tensor:
        """(B, D) unit norm. "video": the mean over locations of the unit visual map, renormalised (for
        retrieval; the localization scores themselves pool the cosine map instead); "audio": the audio
        embedding the maps are computed with."""
        check_modality(self, modality)
        if modality == "video":
            return F.normalize(self.visual_maps(self.frames(batch)).mean(dim=(2, 3)), dim=1)
        return self.audio_embedding(batch["audio"])
