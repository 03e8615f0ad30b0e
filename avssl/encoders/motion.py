"""Motion encoders: a motion signal computed on device from the video clip, fed to a 3D CNN.

- Frame differences: D_t = x_{t+1} − x_t, (B, C, T, H, W) → (B, C, T − 1, H, W); the cheap motion cue of
  FAME (Ding et al., "Motion-aware Contrastive Video Representation Learning via Foreground-background
  Merging", CVPR 2022) and of RGB-difference streams (Wang et al., "Temporal Segment Networks: Towards
  Good Practices for Deep Action Recognition", ECCV 2016).
- Optical flow from RAFT-small (Teed & Deng, "RAFT: recurrent all-pairs field transforms for optical
  flow", ECCV 2020), torchvision's implementation, frozen: flow between consecutive frames in pixels,
  (B, 3, T, H, W) → (B, 2, T − 1, H, W); the flow pathway of MaCLR (Xiao, Tighe & Modolo, "MaCLR: Motion-aware
  Contrastive Learning of Representations for Videos", arXiv 2106.09703) and MCL (Li et al.,
  "Motion-Focused Contrastive Learning of Video Representations", ICCV 2021). RAFT is built
  only from a local weights file the user supplies (``FlowConfig.raft_weights``); nothing is downloaded.

The motion map then goes through R3D-18 or R(2+1)D-18 (:class:`VideoResNetEncoder`) with 3 (differences)
or 2 (flow) input channels: (B, C, T, H, W) → (B, 512, ⌈(T−1)/8⌉, ⌈H/16⌉, ⌈W/16⌉).
"""

from __future__ import annotations

from typing import Literal

import torch
from einops import rearrange
from torch import Tensor, nn
from torchvision.models.optical_flow import raft_small

from avssl.encoders.config import FlowConfig
from avssl.encoders.video import VideoResNetArch, VideoResNetEncoder
from avssl.encoders.weights import ClassifierLayout, load_state, read_state_dict
from avssl.transforms.functional.appearance import IMAGENET_MEAN, IMAGENET_STD

MotionSource = Literal["diff", "flow"]
MIN_FLOW_SIZE = 128  # RAFT features are at 1/8 resolution; its 4-level correlation pyramid needs ≥ 16


def _check_clip(video: Tensor) -> None:
    if video.ndim != 5 or video.shape[2] < 2:
        raise ValueError(f"expected a clip (B, C, T ≥ 2, H, W), got shape {tuple(video.shape)}")


class FrameDifference(nn.Module):
    """(B, C, T, H, W) → (B, C, T − 1, H, W): x[:, :, t + 1] − x[:, :, t]."""

    out_channels = 3

    def forward(self, video: Tensor) -> Tensor:
        _check_clip(video)
        return video[:, :, 1:] - video[:, :, :-1]


class RaftFlow(nn.Module):
    """Frozen RAFT-small flow between consecutive frames: normalised (B, 3, T, H, W) → (B, 2, T − 1, H, W).

    Frames are de-normalised with ``cfg.mean``/``cfg.std`` and mapped to [-1, 1] as RAFT expects; H and W
    must be multiples of 8 and ≥ 128. RAFT stays in eval mode, without gradients, in float32.
    """

    out_channels = 2

    def __init__(self, cfg: FlowConfig) -> None:
        super().__init__()
        if not cfg.raft_weights:
            raise ValueError(
                "optical-flow motion encoders need RAFT-small weights: set flow.raft_weights to a local file "
                "holding torchvision's raft_small state dict (avssl never downloads weights)"
            )
        self.raft = raft_small(weights=None)
        load_state(self.raft, read_state_dict(cfg.raft_weights), origin=cfg.raft_weights, strict=True)
        self.raft.requires_grad_(False)
        self.raft.eval()
        mean = IMAGENET_MEAN if cfg.mean is None else cfg.mean  # None: the data's, unset when built alone
        std = IMAGENET_STD if cfg.std is None else cfg.std
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1, 1), persistent=False)
        self.num_updates = cfg.num_updates

    def train(self, mode: bool = True) -> RaftFlow:
        super().train(mode)
        self.raft.eval()  # frozen: BatchNorm/dropout never switch to training behaviour
        return self

    def forward(self, video: Tensor) -> Tensor:
        _check_clip(video)
        batch, channels, _, height, width = video.shape
        if channels != 3 or height % 8 or width % 8 or min(height, width) < MIN_FLOW_SIZE:
            raise ValueError(
                f"RAFT needs RGB frames with H, W multiples of 8 and ≥ {MIN_FLOW_SIZE} (its correlation "
                f"pyramid), got shape {tuple(video.shape)}"
            )
        with torch.no_grad(), torch.autocast(device_type=video.device.type, enabled=False):
            frames = (video.float() * self.std + self.mean) * 2.0 - 1.0  # [-1, 1]
            first = rearrange(frames[:, :, :-1], "b c t h w -> (b t) c h w")
            second = rearrange(frames[:, :, 1:], "b c t h w -> (b t) c h w")
            flow = self.raft(first, second, num_flow_updates=self.num_updates)[-1]  # (B·(T−1), 2, H, W)
        return rearrange(flow, "(b t) c h w -> b c t h w", b=batch)


class MotionEncoder(nn.Module):
    """Video clip (B, 3, T, H, W) → motion (differences or flow) → 3D CNN → (B, 512, t, h, w)."""

    input_kind = "clip"
    classifier_layout = ClassifierLayout(module="backbone", head=("fc.",), first_conv="stem.0.weight")

    def __init__(self, source: MotionSource, arch: VideoResNetArch, flow: FlowConfig | None = None) -> None:
        super().__init__()
        if source == "diff":
            self.motion: nn.Module = FrameDifference()
        elif source == "flow":
            self.motion = RaftFlow(flow if flow is not None else FlowConfig())
        else:
            raise ValueError(f"motion source must be 'diff' or 'flow', got {source!r}")
        self.backbone = VideoResNetEncoder(arch, in_channels=self.motion.out_channels)
        self.in_channels = 3
        self.out_dim: int = self.backbone.out_dim

    def forward(self, video: Tensor) -> Tensor:
        """(B, 3, T, H, W) → (B, 512, t, h, w)."""
        return self.backbone(self.motion(video))
