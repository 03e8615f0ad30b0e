"""Attention on the moving object: IoU of a clip encoder's top-activated region with the ground-truth mask.

The claim of the motion-focused video methods (MCL: Li et al., "Motion-Focused Contrastive Learning of Video
Representations", ICCV 2021, Fig. 5; PreViTS: Chen et al., arXiv 2112.00804) is that their encoders attend to the
moving object rather than the background. Measured here, class-agnostically and the same way for every clip
encoder: the attention map of a clip is the L2 norm over channels of the encoder's last map (B, D, t, h, w)
(`activation_map`), upsampled (trilinear) to the clip's (T, H, W); its top `fraction` of positions (20 %:
`top_fraction`) is compared with the clip's ground-truth foreground masks (T, H, W) by IoU (`mask_iou`), and
the IoUs are averaged over the test clips whose object moves (`avssl synth` writes masks for every test clip
of its action sets, `avssl.data.synthetic.action.read_masks`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def activation_map(features: Tensor) -> Tensor:
    """(B, D, t, h, w) clip map → (B, t, h, w): the L2 norm over channels at each position."""
    if features.ndim != 5:
        raise ValueError(f"activation_map needs a clip map (B, D, t, h, w), got {tuple(features.shape)}")
    return features.pow(2).sum(1).sqrt()


def top_fraction(maps: Tensor, fraction: float) -> Tensor:
    """(N, …) maps → bool masks of the same shape: each map's `fraction` of positions with the largest
    values (ceil(fraction × positions), ties broken by position)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    flat = maps.flatten(1)
    k = max(1, int(torch.ceil(torch.tensor(fraction * flat.shape[1])).item()))
    index = flat.topk(k, dim=1).indices
    out = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, index, True)
    return out.view(maps.shape)


def mask_iou(pred: Tensor, truth: Tensor) -> Tensor:
    """(N, …) bool masks → (N,) IoU (0 when both are empty)."""
    inter = (pred & truth).flatten(1).sum(1).float()
    union = (pred | truth).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(union))


@torch.no_grad()
def attention_iou(
    encoder: nn.Module,
    root: str | Path,
    fps: float,
    duration_s: float,
    fraction: float = 0.2,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
) -> dict:
    """{"iou": mean IoU, "num_videos"} of `encoder`'s attention maps (top `fraction`) with the true masks of
    the test clips listed in `root/synth_gt.json` whose object moves; each clip decoded from 0 s for
    `duration_s` at `fps` at its native size and normalised like the `normalize` transform."""
    from avssl.data.decoding import read_clip
    from avssl.data.synthetic.action import read_masks
    from avssl.transforms.functional import appearance as FA

    root = Path(root)
    gt_file = root / "synth_gt.json"
    if not gt_file.is_file():
        raise FileNotFoundError(f"{gt_file}: no ground truth (the masks come with `avssl synth` action sets)")
    items = json.loads(gt_file.read_text())["items"]
    mean = tuple(FA.IMAGENET_MEAN) if mean is None else mean
    std = tuple(FA.IMAGENET_STD) if std is None else std
    device = next(encoder.parameters()).device
    ious = []
    for item, entry in sorted(items.items()):
        if entry.get("masks") is None or entry.get("motion") == "still":
            continue
        clip = read_clip(str(root / entry["path"]), 0.0, duration_s, fps=fps, size=None, sample_rate=None)
        frames = clip.frames.permute(0, 3, 1, 2)  # (T, 3, H, W) uint8
        video = FA.normalize(frames, mean, std).unsqueeze(0).to(device)  # (1, 3, T, H, W)
        truth = torch.from_numpy(read_masks(root, item)[: frames.shape[0]]).unsqueeze(0)
        maps = activation_map(encoder(video)).unsqueeze(1)
        maps = F.interpolate(maps, size=tuple(truth.shape[1:]), mode="trilinear", align_corners=False)
        ious.append(mask_iou(top_fraction(maps.squeeze(1).cpu(), fraction), truth)[0])
    if not ious:
        raise ValueError(f"{root}: no test clip with masks and a moving object")
    return {"iou": float(torch.stack(ious).mean()), "num_videos": len(ious)}
