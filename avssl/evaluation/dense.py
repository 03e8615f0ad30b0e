"""The dense linear probe: semantic segmentation from a frozen backbone's feature maps, scored as Pascal VOC
scores segmentation (Everingham, Van Gool, Williams, Winn & Zisserman, "The PASCAL Visual Object Classes
(VOC) Challenge", IJCV 2010).

Protocol. Each image is resized to `size` × `size`, normalised (ImageNet mean / std) and passed through the
frozen backbone → features (C, h, w). A linear 1 × 1 head (C → K + 1 classes, background included) on
per-channel standardised features (statistics over every position of the training features) gives logits
(K + 1, h, w), which are upsampled bilinearly to the mask's full resolution (H, W). Because the head is
linear and bilinear weights sum to 1, this equals upsampling the *features* bilinearly to (H, W) and
applying the head there; the masks are never downsampled. The head is trained with cross-entropy over the
training split's pixels (mean over pixels, void = 255 ignored), AdamW, zero initialisation, a seeded order
of minibatches of images. Scoring on the validation split at every non-void pixel of every mask:

    confusion C[t, p] = number of pixels of true class t predicted p, summed over the whole split
    IoU_c = C[c, c] / (Σ_p C[c, p] + Σ_t C[t, c] − C[c, c])         (intersection / union over the split)
    mIoU = mean of IoU_c over the classes present: those with a non-empty union (in the ground truth or
           predicted); background included, as VOC
    pixel accuracy = Σ_c C[c, c] / Σ C

`mIoU_all_background` is the trivial prediction's (every pixel background): the probe must beat it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.data.datasets.voc import VOID, VOCDataset
from avssl.transforms.functional.appearance import IMAGENET_MEAN, IMAGENET_STD

FeatureFn = Callable[[Tensor], Tensor]  # normalised images (B, 3, S, S) → (B, C, h, w) or (B, D)


def preprocess(images: Sequence[np.ndarray], size: int) -> Tensor:
    """RGB uint8 images (H_i, W_i, 3) → float (B, 3, size, size), resized bilinearly (aspect not kept) and
    normalised with the ImageNet mean / std, as the data's `normalize` transform."""
    out = []
    for image in images:
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
        out.append(F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True))
    x = torch.cat(out)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def frozen_features(
    fn: FeatureFn,
    images: Sequence[np.ndarray],
    size: int,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
) -> Tensor:
    """`fn` on the preprocessed images, in batches → float32 features on the CPU ((N, C, h, w) or (N, D))."""
    parts = []
    for start in range(0, len(images), batch_size):
        x = preprocess(images[start : start + batch_size], size).to(device)
        parts.append(fn(x).float().cpu())
    return torch.cat(parts)


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int = VOID) -> Tensor:
    """(num_classes, num_classes) int64: entry [t, p] counts the pixels of true class t predicted p; pixels
    whose target is `ignore_index` are left out. `pred` and `target` of the same shape, any."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    keep = target != ignore_index
    t, p = target[keep].long(), pred[keep].long()
    if len(t) and (t.max() >= num_classes or p.max() >= num_classes or t.min() < 0 or p.min() < 0):
        raise ValueError(f"class indices must be in 0..{num_classes - 1} (or {ignore_index} in the target)")
    return torch.bincount(t * num_classes + p, minlength=num_classes**2).view(num_classes, num_classes)


def segmentation_scores(confusion: Tensor) -> dict:
    """{"mIoU", "pixel_acc" (percent), "iou": per class IoU in percent (None: absent — empty union),
    "classes_scored"} from a confusion matrix [true, predicted] (definitions in the module docstring)."""
    c = confusion.double()
    tp = c.diag()
    union = c.sum(1) + c.sum(0) - tp
    present = union > 0
    iou = torch.where(present, tp / union.clamp_min(1), torch.zeros(()))
    return {
        "mIoU": float(100 * iou[present].mean()) if present.any() else 0.0,
        "pixel_acc": float(100 * tp.sum() / c.sum().clamp_min(1)),
        "iou": [float(100 * v) if ok else None for v, ok in zip(iou.tolist(), present.tolist())],
        "classes_scored": int(present.sum()),
    }


class DenseHead(nn.Module):
    """A 1 × 1 convolution on standardised features: (B, C, h, w) → logits (B, num_classes, h, w)."""

    def __init__(self, mean: Tensor, std: Tensor, num_classes: int):
        super().__init__()
        self.register_buffer("mean", mean.view(1, -1, 1, 1))
        self.register_buffer("std", std.view(1, -1, 1, 1))
        self.conv = nn.Conv2d(mean.numel(), num_classes, 1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, features: Tensor) -> Tensor:
        return self.conv((features - self.mean) / self.std)


def upsampled_logits(head: DenseHead, features: Tensor, sizes: Sequence[tuple[int, int]]) -> list[Tensor]:
    """The head's logits of each feature map, upsampled bilinearly to its mask's (H, W) → list of
    (num_classes, H_i, W_i)."""
    logits = head(features)
    if len(set(sizes)) == 1:
        up = F.interpolate(logits, size=tuple(sizes[0]), mode="bilinear", align_corners=False)
        return list(up)
    return [
        F.interpolate(lg[None], size=tuple(s), mode="bilinear", align_corners=False)[0]
        for lg, s in zip(logits, sizes)
    ]


def fit_dense_head(
    features: Tensor,
    masks: Sequence[Tensor],
    num_classes: int,
    epochs: int = 40,
    batch_size: int = 16,
    lr: float = 0.05,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> DenseHead:
    """Train the 1 × 1 head on frozen `features` (N, C, h, w) against `masks` (N of (H_i, W_i) class
    indices, 255 ignored); `num_classes` counts the background."""
    mean = features.mean((0, 2, 3))
    std = features.std((0, 2, 3)).clamp_min(1e-6)
    head = DenseHead(mean, std, num_classes)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    sizes = [tuple(m.shape) for m in masks]
    for _ in range(epochs):
        for idx in torch.randperm(len(masks), generator=generator).split(batch_size):
            logits = upsampled_logits(head, features[idx], [sizes[i] for i in idx])
            loss_sum = sum(
                F.cross_entropy(lg[None], masks[i][None].long(), ignore_index=VOID, reduction="sum")
                for lg, i in zip(logits, idx.tolist())
            )
            valid = sum(int((masks[i] != VOID).sum()) for i in idx.tolist())
            if valid == 0:
                continue
            optimizer.zero_grad()
            (loss_sum / valid).backward()
            optimizer.step()
    return head


@torch.no_grad()
def dense_confusion(
    head: DenseHead, features: Tensor, masks: Sequence[Tensor], batch_size: int = 32
) -> Tensor:
    """The split's confusion matrix of the head's argmax at every mask pixel (255 ignored)."""
    k = head.conv.out_channels
    confusion = torch.zeros(k, k, dtype=torch.long)
    for start in range(0, len(masks), batch_size):
        chunk = masks[start : start + batch_size]
        logits = upsampled_logits(head, features[start : start + batch_size], [tuple(m.shape) for m in chunk])
        for lg, mask in zip(logits, chunk):
            confusion += confusion_matrix(lg.argmax(0), mask, k)
    return confusion


def dense_probe_metrics(
    train_features: Tensor,
    train_masks: Sequence[Tensor],
    val_features: Tensor,
    val_masks: Sequence[Tensor],
    num_classes: int,
    **fit: float,
) -> dict:
    """Fit the dense probe on the training split, score the validation split → `segmentation_scores` plus
    "mIoU_all_background", "num_train", "num_val", "feature_size" (h, w); `num_classes` counts the
    background; `fit`: `fit_dense_head`'s settings."""
    head = fit_dense_head(train_features, train_masks, num_classes, **fit)
    confusion = dense_confusion(head, val_features, val_masks)
    trivial = torch.zeros_like(confusion)
    trivial[:, 0] = confusion.sum(1)
    return {
        **segmentation_scores(confusion),
        "mIoU_all_background": segmentation_scores(trivial)["mIoU"],
        "num_train": len(train_masks),
        "num_val": len(val_masks),
        "feature_size": list(train_features.shape[-2:]),
    }


def voc_dense_report(
    fn: FeatureFn,
    root: str | Path,
    train_split: str = "train",
    val_split: str = "val",
    size: int = 224,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
) -> dict:
    """The dense probe of the feature maps `fn` (a frozen backbone: (B, 3, size, size) → (B, C, h, w)) on
    the segmentation splits of the VOC tree at `root`; adds "classes" (background first) and "size"."""
    splits = {}
    for split in (train_split, val_split):
        data = VOCDataset(root, split, task="segmentation")
        images = [data.image(i) for i in range(len(data))]
        masks = [torch.from_numpy(data.mask(i)) for i in range(len(data))]
        features = frozen_features(fn, images, size, batch_size, device)
        if features.ndim != 4:
            raise ValueError(f"the dense probe needs feature maps (B, C, h, w), got {tuple(features.shape)}")
        splits[split] = (features, masks)
    report = dense_probe_metrics(*splits[train_split], *splits[val_split], data.num_classes + 1)
    return {**report, "classes": ["background", *data.classes], "size": size}
