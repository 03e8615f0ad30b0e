"""The change-detection fine-tuning protocol on a bi-temporal layout (LEVIR-CD: Chen & Shi, "A
Spatial-Temporal Attention-Based Method and a New Dataset for Remote Sensing Image Change Detection",
Remote Sensing 2020; WHU-CD: Ji, Wei & Lu, "Fully Convolutional Networks for Multisource Building
Extraction From an Open Aerial and Satellite Imagery Data Set", IEEE TGRS 2019), scored with
`avssl.evaluation.change`.

Model. A Siamese encoder — one image backbone (B, 3, S, S) → (B, D, h, w), the same weights for both images,
copied from a trained run or freshly initialised — and a light decoder: the fused features (`fuse="diff"`:
|f(A) − f(B)|, symmetric in A and B; `"concat"`: [f(A), f(B)]) → two 3 × 3 conv–BatchNorm–ReLU layers
(`hidden` channels) → a 1 × 1 conv to one change logit per position, upsampled bilinearly to the label's
(H, W). With `multiscale` (the default) and a backbone with `forward_features` (every avssl image
backbone: its last four stages), each stage's pair is fused, projected to `hidden` channels (1 × 1 conv) and
the projections are upsampled to the finest stage and summed before those convs (a light FPN-like
decoder); else only the backbone's output is. Images are resized to S × S and normalised with the ImageNet mean / std; labels stay at full
resolution.

Training. `steps` AdamW steps (decoder `lr`, backbone `lr × backbone_lr_scale`; 0 freezes it) on
minibatches of `batch_size` training pairs drawn with a seeded generator, each with a random joint flip /
90° rotation and a random A ↔ B swap (change is symmetric); loss = BCE (mean over pixels) + `dice` × soft
dice loss of the change class. Scoring: logit > 0 is change, counts accumulated over the test split.

Baselines in the report: `all_no_change` (F1 = 0 whenever the split has change) and two pixel-difference
thresholds: d = Σ_c |A_c − B_c| (0..765) of the raw images (`pixel_difference`), and of B matched to A's
per-channel mean and standard deviation first (`pixel_difference_normalised`, which undoes a global
illumination shift); the threshold is the one with the best F1 on the *training* split.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.data.datasets.change import ChangeDetectionDataset
from avssl.evaluation.change import ChangeCounts, change_counts, change_scores
from avssl.losses.dice import soft_dice
from avssl.transforms.functional.appearance import IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class ChangeFinetuneConfig:
    """The protocol's settings (see the module docstring); `size` None: the pairs' own size."""

    steps: int = 200
    batch_size: int = 8
    lr: float = 1e-3
    backbone_lr_scale: float = 1.0
    weight_decay: float = 1e-4
    dice: float = 0.5
    fuse: str = "diff"
    hidden: int = 64
    multiscale: bool = True
    size: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.fuse not in ("diff", "concat"):
            raise ValueError(f"fuse must be 'diff' or 'concat', got {self.fuse!r}")
        if self.steps < 0 or self.batch_size < 1 or self.hidden < 1:
            raise ValueError("steps must be >= 0, batch_size and hidden >= 1")


def _conv_bn_relu(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SiameseChangeNet(nn.Module):
    """`forward(a, b, out_size)`: normalised images (B, 3, S, S) each → change logits (B, H, W), H × W =
    `out_size`. `dims`: the channels of the levels used — one level (the backbone's output) or, with
    `multiscale`, the levels of `backbone.forward_features` (finest first), each fused, projected to
    `hidden` channels by a 1 × 1 conv–BN–ReLU and upsampled to the finest level, then summed."""

    def __init__(
        self,
        backbone: nn.Module,
        dims: tuple[int, ...],
        fuse: str = "diff",
        hidden: int = 64,
        multiscale=False,
    ):
        super().__init__()
        self.backbone, self.fuse, self.multiscale = backbone, fuse, multiscale
        k = 2 if fuse == "concat" else 1
        self.project = nn.ModuleList([_conv_bn_relu(k * d, hidden, 1) for d in dims])
        self.decoder = nn.Sequential(
            _conv_bn_relu(hidden, hidden), _conv_bn_relu(hidden, hidden), nn.Conv2d(hidden, 1, 1)
        )

    def forward(self, a: Tensor, b: Tensor, out_size: tuple[int, int]) -> Tensor:
        x = torch.cat([a, b])
        levels = self.backbone.forward_features(x) if self.multiscale else [self.backbone(x)]
        fused = None
        for features, project in zip(levels, self.project):
            if features.ndim != 4:
                raise ValueError(
                    f"change detection needs feature maps (B, D, h, w), got {tuple(features.shape)}"
                )
            fa, fb = features.chunk(2)
            level = project((fa - fb).abs() if self.fuse == "diff" else torch.cat([fa, fb], 1))
            if fused is None:
                fused = level
            else:
                fused = fused + F.interpolate(
                    level, size=fused.shape[-2:], mode="bilinear", align_corners=False
                )
        logits = self.decoder(fused)
        return F.interpolate(logits, size=out_size, mode="bilinear", align_corners=False)[:, 0]


def load_split(dataset: ChangeDetectionDataset) -> tuple[Tensor, Tensor, Tensor]:
    """Every pair of a split: (A (N, 3, H, W) uint8, B (N, 3, H, W) uint8, labels (N, H, W) bool); all pairs
    must share one size."""
    samples = [dataset[i] for i in range(len(dataset))]
    sizes = {tuple(s["label"].shape) for s in samples}
    if len(sizes) != 1:
        raise ValueError(f"{dataset.root / dataset.split}: pairs of several sizes {sorted(sizes)}; give one")
    return tuple(torch.stack([s[k] for s in samples]) for k in ("image_a", "image_b", "label"))


def normalise(images: Tensor, size: int) -> Tensor:
    """uint8 (B, 3, H, W) → float (B, 3, size, size), resized bilinearly, ImageNet mean / std."""
    x = images.float() / 255.0
    if tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _augment(a: Tensor, b: Tensor, y: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """The same random flip / 90° rotation for A, B and the label of each pair, and a random A ↔ B swap."""
    out = []
    for i in range(len(a)):
        flip, rot, swap = (int(v) for v in torch.randint(0, 4, (3,), generator=g))
        ai, bi, yi = a[i], b[i], y[i]
        if swap % 2:
            ai, bi = bi, ai
        if flip % 2:
            ai, bi, yi = ai.flip(-1), bi.flip(-1), yi.flip(-1)
        ai, bi, yi = (t.rot90(rot, (-2, -1)) for t in (ai, bi, yi))
        out.append((ai, bi, yi))
    return tuple(torch.stack(t) for t in zip(*out))


def backbone_levels(
    backbone: nn.Module, size: int, multiscale: bool, device: torch.device | str = "cpu"
) -> tuple[tuple[int, ...], bool]:
    """(channels of the levels the decoder reads, whether they are `forward_features`' levels): with
    `multiscale` and a backbone that has `forward_features`, its levels; else its output alone. Found with one
    probe forward pass in eval mode."""
    multiscale = multiscale and callable(getattr(backbone, "forward_features", None))
    was = backbone.training
    backbone.eval()
    with torch.no_grad():
        x = torch.zeros(1, 3, size, size, device=device)
        levels = backbone.forward_features(x) if multiscale else [backbone(x)]
    backbone.train(was)
    return tuple(int(f.shape[1]) for f in levels), multiscale


def finetune_change(
    backbone: nn.Module,
    train: tuple[Tensor, Tensor, Tensor],
    cfg: ChangeFinetuneConfig = ChangeFinetuneConfig(),
    device: torch.device | str = "cpu",
) -> tuple[SiameseChangeNet, list[float]]:
    """Fine-tune a copy of `backbone` with a new decoder on the training pairs ((A, B, labels) of
    `load_split`) → (the model in eval mode, the loss of every step). `backbone` itself is not changed."""
    a_all, b_all, y_all = train
    size = cfg.size or a_all.shape[-1]
    torch.manual_seed(cfg.seed)
    net = copy.deepcopy(backbone).to(device)
    dims, multiscale = backbone_levels(net, size, cfg.multiscale, device)
    model = SiameseChangeNet(net, dims, cfg.fuse, cfg.hidden, multiscale).to(device)
    head = [*model.project.parameters(), *model.decoder.parameters()]
    groups = [{"params": head, "lr": cfg.lr}]
    if cfg.backbone_lr_scale > 0:
        groups.append({"params": model.backbone.parameters(), "lr": cfg.lr * cfg.backbone_lr_scale})
    else:
        model.backbone.requires_grad_(False)
    optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    losses = []
    model.train()
    if cfg.backbone_lr_scale <= 0:
        model.backbone.eval()  # frozen: BatchNorm statistics stay the run's
    for _ in range(cfg.steps):
        idx = torch.randint(len(a_all), (min(cfg.batch_size, len(a_all)),), generator=generator)
        a, b, y = _augment(a_all[idx], b_all[idx], y_all[idx], generator)
        y = y.float().to(device)
        logits = model(normalise(a, size).to(device), normalise(b, size).to(device), tuple(y.shape[-2:]))
        loss = F.binary_cross_entropy_with_logits(logits, y)
        if cfg.dice > 0:
            loss = loss + cfg.dice * soft_dice(logits, y)  # the change class, over the batch
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return model.eval(), losses


@torch.no_grad()
def predict_counts(
    model: SiameseChangeNet,
    pairs: tuple[Tensor, Tensor, Tensor],
    size: int,
    device: torch.device | str = "cpu",
    batch_size: int = 16,
) -> ChangeCounts:
    """The split's TP / FP / FN / TN of the model's change masks (logit > 0)."""
    a_all, b_all, y_all = pairs
    total = ChangeCounts()
    for s in range(0, len(a_all), batch_size):
        a, b, y = a_all[s : s + batch_size], b_all[s : s + batch_size], y_all[s : s + batch_size]
        logits = model(normalise(a, size).to(device), normalise(b, size).to(device), tuple(y.shape[-2:]))
        total = total + change_counts(logits.cpu() > 0, y)
    return total


def pixel_difference(a: Tensor, b: Tensor, normalised: bool = False) -> Tensor:
    """d = Σ_c |A_c − B_c| per pixel, (N, H, W) int64 in 0..765; `normalised`: B first matched to A's
    per-channel mean and standard deviation (per pair), rounded to levels."""
    a, b = a.double(), b.double()
    if normalised:
        mu_a, mu_b = a.mean((-2, -1), keepdim=True), b.mean((-2, -1), keepdim=True)
        sd_a, sd_b = a.std((-2, -1), keepdim=True), b.std((-2, -1), keepdim=True).clamp_min(1e-6)
        b = ((b - mu_b) / sd_b * sd_a + mu_a).clamp(0, 255).round()
    return (a - b).abs().sum(1).long()


def fit_threshold(d: Tensor, labels: Tensor) -> int:
    """The threshold t (change: d > t) with the best F1 on (d, labels); ties: the smallest t."""
    levels = int(d.max()) + 2
    changed = torch.bincount(d[labels].flatten(), minlength=levels).double()
    unchanged = torch.bincount(d[~labels].flatten(), minlength=levels).double()
    tp = changed.flip(0).cumsum(0).flip(0)[1:]  # tp[t] = changed pixels with d > t
    fp = unchanged.flip(0).cumsum(0).flip(0)[1:]
    fn = changed.sum() - tp
    f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1)
    return int(f1.argmax())


def difference_baseline(train: tuple[Tensor, ...], test: tuple[Tensor, ...], normalised: bool) -> dict:
    """The pixel-difference threshold fitted on `train`, scored on `test` → change_scores + "threshold"."""
    t = fit_threshold(pixel_difference(train[0], train[1], normalised), train[2])
    pred = pixel_difference(test[0], test[1], normalised) > t
    return {**change_scores(change_counts(pred, test[2])), "threshold": t}


def change_detection_report(
    backbone: nn.Module,
    root: str | Path,
    train_split: str = "train",
    test_split: str = "test",
    cfg: ChangeFinetuneConfig = ChangeFinetuneConfig(),
    device: torch.device | str = "cpu",
) -> dict:
    """Fine-tune on `train_split` of the change-detection layout at `root`, score `test_split` → the change
    scores (`change_scores`: precision, recall, F1, IoU, OA, counts) and "baselines" (all_no_change,
    pixel_difference, pixel_difference_normalised), "num_train", "num_test", "size", "final_loss" (mean of
    the last 10 steps) and the protocol's settings ("protocol")."""
    train = load_split(ChangeDetectionDataset(root, train_split, mode="eval"))
    test = load_split(ChangeDetectionDataset(root, test_split, mode="eval"))
    size = cfg.size or int(train[0].shape[-1])
    model, losses = finetune_change(backbone, train, cfg, device)
    scores = change_scores(predict_counts(model, test, size, device))
    labels = test[2]
    baselines = {
        "all_no_change": change_scores(change_counts(torch.zeros_like(labels), labels)),
        "pixel_difference": difference_baseline(train, test, normalised=False),
        "pixel_difference_normalised": difference_baseline(train, test, normalised=True),
    }
    tail = losses[-10:]
    return {
        **scores,
        "baselines": baselines,
        "num_train": len(train[0]),
        "num_test": len(labels),
        "size": size,
        "final_loss": sum(tail) / len(tail) if tail else None,
        "protocol": {**asdict(cfg), "size": size, "train_split": train_split, "test_split": test_split},
    }
