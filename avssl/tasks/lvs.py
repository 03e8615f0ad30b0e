"""LVS: sound-source localization with a tri-map and hard negatives from the image's own background.

Chen, Xie, Afouras, Nagrani, Vedaldi, Zisserman, "Localizing Visual Sounds the Hard Way", CVPR 2021.
A frame's visual map and its clip's max-pooled audio feature give a cosine map; a soft tri-map splits it into
a positive region (cosine > eps_p), an uncertain band and a background (cosine < eps_n). The positive score
(soft-masked mean over the positive region) is contrasted against the same image's background (hard
negative) and against the other clips' sounds in this image (easy negatives, global batch):
:class:`avssl.losses.trimap.TriMapContrastiveLoss`. Results [P]: Flickr-SoundNet cIoU/AUC 71.9/58.2,
VGG-SS 34.4/38.2.

Defaults: ResNet-18 for frames and log-mel spectrograms with output stride 16 (the released code keeps
layer4 at stride 1: 14x14 maps at 224 px), no projection, audio max-pooled, eps_p 0.65, eps_n 0.4,
tau_m 0.03, tau 0.07 [C]. The paper initialises the visual ResNet from ImageNet: set
``visual.weights`` (torchvision resnet18 state dict, ``weights_source="classifier"``) to reproduce it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avssl.encoders import AnyEncoderConfig, AudioCNNConfig, Visual2dConfig
from avssl.heads.localization import AudioPool, FrameMode, MapRenderConfig
from avssl.losses.trimap import TriMapConfig
from avssl.tasks.base import TaskOutput
from avssl.tasks.localization_common import AVLocalizer


@dataclass
class LVSConfig:
    """Encoders, head and tri-map loss of LVS."""

    visual: AnyEncoderConfig = field(
        default_factory=lambda: Visual2dConfig(name="resnet18", output_stride=16)
    )
    audio: AnyEncoderConfig = field(
        default_factory=lambda: AudioCNNConfig(name="audio_resnet18", output_stride=16)
    )
    embed_dim: int | None = None
    audio_pool: AudioPool = "max"
    frames: FrameMode = "middle"
    loss: TriMapConfig = field(default_factory=TriMapConfig)
    render: MapRenderConfig = field(default_factory=MapRenderConfig)


class LVS(AVLocalizer):
    """``forward(batch)`` -> TaskOutput(loss, {"loss/trimap"}); ``localize(batch)`` -> (B, h, w) cosine maps."""

    def __init__(self, cfg: LVSConfig) -> None:
        super().__init__(cfg)
        self.loss = cfg.loss.build()

    def forward(self, batch: dict) -> TaskOutput:
        visual = self.visual_maps(self.frames(batch))  # (B, D, h, w)
        audio = self.audio_embedding(batch["audio"])  # (B, D)
        loss = self.loss(visual, audio)
        return TaskOutput(loss, {"loss/trimap": loss.detach()})
