"""EZ-VSL: sound-source localization by multiple-instance contrastive learning, with object-guided inference.

Mo & Morgado, "Localizing Visual Sounds the Easy Way", ECCV 2022. Training: the score of an (image, audio)
pair is the maximum over locations of their cosine map, contrasted symmetrically over the global batch
(:class:`avssl.losses.mil_infonce.MaxMILInfoNCE`, tau = 0.03). Inference: the audio-visual map ``S_AVL`` and,
with object-guided localization (OGL), an audio-free object prior ``S_OGL`` = mean over channels of the
absolute visual features (the code's ``NormReducer``). As the released test script does it, both maps are
resized to 224x224 (bilinear, align_corners=True), each min-max normalised (a constant map is left as it is),
blended as ``alpha * S_AVL + (1 - alpha) * S_OGL`` with alpha = 0.4 and the blend normalised again; the
benchmark then binarises with the '>=' rule (``eval.rule: ge``). Results [P]: Flickr-SoundNet cIoU/AUC
83.94/63.60 and VGG-SS 38.85/39.54 with OGL.

Defaults [C]: ResNet-18 frames at output stride 32 (7x7 maps at 224 px), ResNet-18 on spectrograms, audio
max-pooled, 1x1-conv / linear projections to 512-d, ~3 s audio. The paper's visual ResNet and its OGL model
are ImageNet-pretrained; the OGL model is a *separate, frozen* ImageNet ResNet-18: set ``ogl_encoder`` (e.g.
``Visual2dConfig(name="resnet18", weights=..., weights_source="classifier")``) for that, otherwise OGL uses
this task's own visual encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.encoders import AnyEncoderConfig, AudioCNNConfig, Visual2dConfig, build_encoder
from avssl.heads.localization import AudioPool, FrameMode, MapRenderConfig, cosine_map, reduce_time
from avssl.losses.mil_infonce import MaxMILInfoNCE
from avssl.tasks.base import TaskOutput
from avssl.tasks.localization_common import AVLocalizer


@dataclass
class EZVSLConfig:
    """Encoders, projection width, temperature and OGL settings of EZ-VSL."""

    visual: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="resnet18"))
    audio: AnyEncoderConfig = field(default_factory=lambda: AudioCNNConfig(name="audio_resnet18"))
    embed_dim: int | None = 512
    audio_pool: AudioPool = "max"
    frames: FrameMode = "middle"
    temperature: float = 0.03
    ogl_alpha: float = 0.4
    ogl_encoder: AnyEncoderConfig | None = None
    render: MapRenderConfig = field(default_factory=MapRenderConfig)


OGL_SIZE = 224  # the released evaluation resizes both maps to the benchmark's 224x224 before blending


def minmax(maps: Tensor) -> Tensor:
    """Per-map ``(m - min) / (max - min)`` over (h, w) of (B, h, w); a constant map is returned unchanged
    (as the released ``normalize_img``, which skips the division when the range is 0)."""
    flat = maps.flatten(1)
    low, high = flat.amin(dim=1, keepdim=True), flat.amax(dim=1, keepdim=True)
    span = high - low
    scaled = (flat - low) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, scaled, flat).view_as(maps)


def _to_ogl_size(maps: Tensor) -> Tensor:
    """(B, h, w) -> (B, 224, 224), bilinear with align_corners=True (identity when already 224x224)."""
    return F.interpolate(maps[:, None], size=(OGL_SIZE, OGL_SIZE), mode="bilinear", align_corners=True)[:, 0]


def object_saliency(features: Tensor) -> Tensor:
    """OGL prior: mean over channels of |features|: (B, D, h, w) -> (B, h, w)."""
    return features.abs().mean(dim=1)


class EZVSL(AVLocalizer):
    """``forward(batch)`` -> TaskOutput(loss, {"loss/mil_infonce"}); ``localize(batch, ogl=False)`` -> (B, h, w)."""

    def __init__(self, cfg: EZVSLConfig) -> None:
        super().__init__(cfg)
        if not 0.0 <= cfg.ogl_alpha <= 1.0:
            raise ValueError(f"ogl_alpha must be in [0, 1], got {cfg.ogl_alpha}")
        self.loss = MaxMILInfoNCE(cfg.temperature)
        self.ogl_alpha = cfg.ogl_alpha
        self.ogl_encoder: nn.Module | None = None
        if cfg.ogl_encoder is not None:
            self.ogl_encoder = build_encoder(cfg.ogl_encoder).requires_grad_(False).eval()

    def train(self, mode: bool = True) -> EZVSL:
        """As ``nn.Module.train``, but a separate OGL encoder stays frozen in eval mode."""
        super().train(mode)
        if self.ogl_encoder is not None:
            self.ogl_encoder.eval()
        return self

    def forward(self, batch: dict) -> TaskOutput:
        visual = self.visual_maps(self.frames(batch))  # (B, D, h, w)
        audio = self.audio_embedding(batch["audio"])  # (B, D)
        loss = self.loss(visual, audio)
        return TaskOutput(loss, {"loss/mil_infonce": loss.detach()})

    def localize(self, batch: dict, ogl: bool = False) -> Tensor:
        """(B, h, w), higher = sounding. Without OGL: the cosine map at the feature resolution (not
        normalised; rendered as ``model.render`` says). With OGL: :meth:`localize_ogl` with this task's
        ``ogl_alpha`` (224x224, in [0, 1]; the released blend of the raw maps)."""
        if ogl:
            return self.localize_ogl(batch, self.ogl_alpha)
        return super().localize(batch)

    def localize_ogl(self, batch: dict, alpha: float) -> Tensor:
        """Object-guided map (B, 224, 224): ``minmax(alpha * minmax(S_AVL) + (1 - alpha) * minmax(S_OGL))``
        with both maps first resized to 224x224 (bilinear, align_corners=True), as the released test script."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"ogl alpha must be in [0, 1], got {alpha}")
        frames = self.frames(batch)
        features = self.visual_features(frames)  # (B, D_v, h, w)
        av_map = cosine_map(self.head.visual(features), self.audio_embedding(batch["audio"]))
        if self.ogl_encoder is not None:
            with torch.no_grad():
                features = reduce_time(self.ogl_encoder(frames), "mean")
        av_map, obj_map = _to_ogl_size(av_map), _to_ogl_size(object_saliency(features))
        return minmax(alpha * minmax(av_map) + (1 - alpha) * minmax(obj_map))
