"""Attention IoU (the motion-focused methods' claim, e.g. MCL, Li et al., ICCV 2021): the top-fraction masks
and the IoU against loops, and the measurement on real encoded clips of a synthetic action set with their
ground-truth masks — an encoder that looks at frame differences scores far above one that looks at a fixed
corner of the frame."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from avssl.evaluation.attention import activation_map, attention_iou, mask_iou, top_fraction


def test_top_fraction_and_iou_equal_loops() -> None:
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(3, 2, 5, 5, generator=g)
    masks = top_fraction(maps, 0.2)
    for n in range(3):
        values = sorted(maps[n].flatten().tolist(), reverse=True)
        k = 10  # ceil(0.2 × 50)
        assert masks[n].sum().item() == k
        assert torch.equal(maps[n] >= values[k - 1], masks[n])
    truth = torch.rand(3, 2, 5, 5, generator=g) > 0.6
    iou = mask_iou(masks, truth)
    for n in range(3):
        a, b = masks[n].flatten().tolist(), truth[n].flatten().tolist()
        inter = sum(x and y for x, y in zip(a, b))
        union = sum(x or y for x, y in zip(a, b))
        assert iou[n].item() == pytest.approx(inter / union)
    assert mask_iou(torch.zeros(1, 4, dtype=torch.bool), torch.zeros(1, 4, dtype=torch.bool)).item() == 0.0
    with pytest.raises(ValueError, match="fraction"):
        top_fraction(maps, 0.0)


def test_activation_map_is_the_channel_norm() -> None:
    features = torch.randn(2, 4, 3, 2, 2)
    ref = torch.stack([torch.stack([features[b, :, t].norm(dim=0) for t in range(3)]) for b in range(2)])
    assert torch.allclose(activation_map(features), ref, atol=1e-6)


class _Motion(nn.Module):
    """An 'encoder' whose map is the clip's absolute frame difference (it looks where things move)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        diff = (video[:, :, 1:] - video[:, :, :-1]).abs()
        return self.w * torch.cat([diff, diff[:, :, -1:]], 2)


class _Corner(nn.Module):
    """An 'encoder' that always looks at the top-left corner."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(video[:, :1])
        H, W = video.shape[-2:]
        out[..., : H // 2, : W // 2] = 1.0 + torch.linspace(
            0, 1, W // 2
        )  # strictly ordered inside the corner
        return self.w * out


def test_on_real_clips_a_motion_looking_encoder_beats_a_corner_looking_one(tmp_path) -> None:
    from avssl.data.synthetic.action import ActionSynthSpec, write_action_synthetic

    spec = ActionSynthSpec(num_classes=6, clips_per_class=4, size=48, frames=8, fps=8.0, seed=3)
    root = write_action_synthetic("ucf101", tmp_path / "ucf", spec)
    motion = attention_iou(_Motion(), root / "background_swapped", 8.0, 1.0)
    corner = attention_iou(_Corner(), root / "background_swapped", 8.0, 1.0)
    assert motion["num_videos"] == corner["num_videos"] > 0
    assert motion["iou"] >= corner["iou"] + 0.15, (motion, corner)
    with pytest.raises(FileNotFoundError, match="synth_gt.json"):
        attention_iou(_Motion(), tmp_path, 8.0, 1.0)
