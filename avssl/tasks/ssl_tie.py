"""SSL-TIE: sound localization with transformation invariance and equivariance.

Liu, Ju, Xie, Zhang, "Exploiting Transformation Invariance and Equivariance for Self-supervised Sound
Localisation", ACM MM 2022. A Siamese framework on two views of the same frame with shared encoders:

- view 1: the batch's frame ``x`` and audio ``a`` (augment them in the data pipeline as the paper does:
  MoCo v2 crop / colour / grayscale / blur / flip);
- view 2: ``T_g(T_a(x))`` and ``T_s(a)``, generated here on the device: ``T_a`` appearance (colour jitter,
  grayscale) and ``T_s`` audio (gain, circular shift, SpecAugment on the log-mel) when ``use_invariance``
  (``audio_aug.spec_views="both"`` masks view 1's spectrogram too, as the released data loader does);
  ``T_g`` a random crop-resize / h-flip / rotation, recorded as ``GeometryRecord`` chains, when
  ``use_equivariance``.

Loss (the released code's composition)::

    L = (L_cl(view 1) + L_cl(view 2)) / 2 + w_eq * L_eq + w_fc * L_fc
    L_cl = LVS tri-map contrastive loss over the global batch (avssl.losses.trimap; SSL-TIE's code uses
           LVS's with the same eps_p 0.65, eps_n 0.4, tau_m 0.03, tau 0.07)
    L_eq = masked MSE between S(view 2) and T_g(S(view 1)) on the locations that stayed inside the frame
           (avssl.losses.equivariance; w_eq = 1 [C])
    L_fc = optional feature consistency, not in the paper (w_fc = 0 by default): 1 - cos between the two
           audio embeddings plus the valid-location mean of 1 - cos(T_g(v_1), v_2) of the visual maps.

Both switches off gives the single-view LVS baseline. Invariance is otherwise carried by the shared encoders
and the contrastive loss of the augmented view (and, with equivariance on, by L_eq comparing maps of
differently augmented inputs). Defaults: ResNet-18 for both streams, output stride 16 (14x14 maps at 224
px), no projection, max-pooled audio [C]; the released code trains the visual ResNet from scratch, on 10 s
audio. Results [P]: Flickr-SoundNet cIoU 81.5 (144k), VGG-SS cIoU 38.63.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from avssl.encoders import AnyEncoderConfig, AudioCNNConfig, LogMelFrontEnd, Visual2dConfig
from avssl.encoders.config import DEFAULT_SAMPLE_RATE
from avssl.heads.localization import AudioPool, FrameMode, MapRenderConfig, cosine_map
from avssl.losses.equivariance import MapEquivarianceLoss
from avssl.losses.trimap import TriMapConfig
from avssl.tasks.base import TaskOutput
from avssl.tasks.localization_common import AVLocalizer
from avssl.transforms.batched import (
    AppearanceConfig,
    AudioAugConfig,
    GeometryConfig,
    augment_appearance,
    augment_waveform,
    sample_geometry,
    spec_masking,
    warp_frames,
)
from avssl.transforms.functional.geometry import (
    GeometryRecord,
    apply_geometry_to_maps,
    geometry_valid_mask,
)


@dataclass
class SSLTIEConfig:
    """Encoders, contrastive loss, ablation switches, loss weights and the view-2 augmentations."""

    visual: AnyEncoderConfig = field(
        default_factory=lambda: Visual2dConfig(name="resnet18", output_stride=16)
    )
    audio: AnyEncoderConfig = field(
        default_factory=lambda: AudioCNNConfig(name="audio_resnet18", output_stride=16)
    )
    embed_dim: int | None = None
    audio_pool: AudioPool = "max"
    frames: FrameMode = "middle"
    contrastive: TriMapConfig = field(default_factory=TriMapConfig)
    use_equivariance: bool = True
    use_invariance: bool = True
    equivariance_weight: float = 1.0
    equivariance_distance: Literal["mse", "l1"] = "mse"
    equivariance_valid_only: bool = True
    feature_consistency_weight: float = 0.0
    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)
    audio_aug: AudioAugConfig = field(default_factory=AudioAugConfig)
    render: MapRenderConfig = field(default_factory=MapRenderConfig)


class SSLTIE(AVLocalizer):
    """``forward(batch)`` -> TaskOutput(loss, {"loss/contrastive", ["loss/contrastive_view2",
    "loss/equivariance", "loss/feature_consistency"]}); ``localize(batch)`` -> (B, h, w) cosine maps of the
    untransformed frame."""

    def __init__(self, cfg: SSLTIEConfig) -> None:
        super().__init__(cfg)
        self.cfg = cfg
        self.contrastive = cfg.contrastive.build()
        self.equivariance = MapEquivarianceLoss(cfg.equivariance_distance)
        # the rate the audio encoder was built for (its front end's, which the recipe takes from the data)
        frontend = getattr(self.audio_encoder, "frontend", self.audio_encoder)
        self.sample_rate = int(getattr(frontend, "sample_rate", DEFAULT_SAMPLE_RATE))
        if cfg.use_invariance and cfg.audio_aug.spec_prob > 0:
            if not isinstance(getattr(self.audio_encoder, "frontend", None), LogMelFrontEnd):
                raise ValueError(f"audio encoder {cfg.audio.name!r} has no log-mel front end to mask")

    def view1_audio(self, audio: Tensor) -> Tensor:
        """View 1's audio embedding: its spectrogram SpecAugment-masked too when ``audio_aug.spec_views`` is
        ``"both"`` (the released code's data loader), clean otherwise."""
        if self.cfg.use_invariance and self.cfg.audio_aug.spec_views == "both":
            with spec_masking(self.audio_encoder, self.cfg.audio_aug):
                return self.audio_embedding(audio)
        return self.audio_embedding(audio)

    def shares_view1_audio(self) -> bool:
        """View 2 reuses view 1's masked audio: the release's one spectrogram for both views."""
        return self.cfg.audio_aug.spec_views == "both" and not self.cfg.audio_aug.changes_waveform()

    def second_view(self, frames: Tensor, audio: Tensor) -> tuple[Tensor, Tensor, list[list[GeometryRecord]]]:
        """(T_g(T_a(frames)), T_s-augmented waveform, the per-sample geometric chains)."""
        records: list[list[GeometryRecord]] = [[] for _ in range(frames.shape[0])]
        if self.cfg.use_invariance:
            frames = augment_appearance(frames, self.cfg.appearance)
            audio = augment_waveform(audio, self.cfg.audio_aug, self.sample_rate)
        if self.cfg.use_equivariance:
            records = sample_geometry(frames.shape[0], frames.shape[-2:], self.cfg.geometry)
            frames = warp_frames(frames, records)
        return frames, audio, records

    def transformed(
        self, records: list[list[GeometryRecord]], maps: Tensor, size: tuple[int, int]
    ) -> tuple[Tensor, Tensor]:
        """T_g applied to view-1 maps (B, h, w) or (B, D, h, w) at ``size``, and the (B, h, w) validity."""
        target = apply_geometry_to_maps(records, maps, out_size=size)
        valid = torch.stack([geometry_valid_mask(chain, size, maps.device) for chain in records])
        return target, valid

    def forward(self, batch: dict) -> TaskOutput:
        frames, audio = self.frames(batch), batch["audio"]
        visual1, audio1 = self.visual_maps(frames), self.view1_audio(audio)  # (B, D, h, w), (B, D)
        loss1 = self.contrastive(visual1, audio1)
        out: dict[str, Tensor | float] = {"loss/contrastive": loss1.detach()}
        if not (self.cfg.use_equivariance or self.cfg.use_invariance):
            return TaskOutput(loss1, out)
        frames2, audio2_wave, records = self.second_view(frames, audio)
        visual2 = self.visual_maps(frames2)
        audio2 = audio1
        if self.cfg.use_invariance and not self.shares_view1_audio():
            with spec_masking(self.audio_encoder, self.cfg.audio_aug):
                audio2 = self.audio_embedding(audio2_wave)
        loss2 = self.contrastive(visual2, audio2)
        loss = 0.5 * (loss1 + loss2)
        out["loss/contrastive_view2"] = loss2.detach()
        size = (visual2.shape[-2], visual2.shape[-1])
        if self.cfg.use_equivariance:
            target, valid = self.transformed(records, cosine_map(visual1, audio1), size)
            mask = valid if self.cfg.equivariance_valid_only else None
            equi = self.equivariance(cosine_map(visual2, audio2), target, mask)
            loss = loss + self.cfg.equivariance_weight * equi
            out["loss/equivariance"] = equi.detach()
        if self.cfg.use_invariance and self.cfg.feature_consistency_weight > 0:
            moved, valid = self.transformed(records, visual1, size)
            visual_term = (
                (1 - F.cosine_similarity(moved, visual2, dim=1)) * valid
            ).sum() / valid.sum().clamp_min(1)
            consistency = (1 - (audio1 * audio2).sum(dim=1)).mean() + visual_term
            loss = loss + self.cfg.feature_consistency_weight * consistency
            out["loss/feature_consistency"] = consistency.detach()
        return TaskOutput(loss, out)
