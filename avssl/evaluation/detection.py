"""Detection fine-tuning on a COCO tree: torchvision's Faster R-CNN (Ren, He, Girshick & Sun, "Faster
R-CNN: Towards Real-Time Object Detection with Region Proposal Networks", NeurIPS 2015) on a run's image
backbone, trained end to end on the training split and scored with COCO's AP by pycocotools (Lin et al.,
"Microsoft COCO: Common Objects in Context", ECCV 2014; `avssl.evaluation.coco_ap`).

Protocol. The detector is `torchvision.models.detection.FasterRCNN` with
  - backbone: a copy of the run's backbone (`init="run"`) or the same architecture with every layer's
    `reset_parameters()` under the seed (`init="random"`, the baseline), wrapped by `DetectionBackbone`:
    images (B, 3, H, W) → one feature map {"0": (B, C', h, w)}, projected by a new 1 × 1 convolution to
    C' = `channels` (64) channels, `out_channels` = C';
  - the RPN on that single map with one anchor size set scaled to the input: sizes `size` × (1/8, 1/4, 1/2),
    aspect ratios 0.5, 1, 2 (3 × 3 anchors per position; small images, 64–128 px);
  - RoI features by `MultiScaleRoIAlign(["0"], 7, 1)` (one sample per bin: the map is coarse), a
    two-layer MLP box head of width `head_dim`, and the box predictor for K + 1 classes (0 = background);
  - its own transform: images resized so the shorter side is `size` (the longer at most 5/3 · size) and
    normalised with the ImageNet mean / std (the data's normalisation).
Training: `steps` steps of SGD (momentum 0.9, weight decay 1e-4, linear warm-up over the first tenth of
the steps) on minibatches of `batch_size` images drawn in a seeded order, each flipped horizontally with
probability 1/2 (boxes flipped too); the loss is Faster R-CNN's sum of RPN objectness / box regression and
RoI classification / box regression. Crowd regions are not trained on. Evaluation: every image of the
validation split, up to 100 detections per image with score ≥ 0.01, scored by COCOeval (AP, AP50, AP75,
APs/m/l in percent). Every weight is trained; only the initialisation differs between runs compared.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from avssl.data.datasets.coco import COCODataset
from avssl.evaluation.coco_ap import coco_ap, detections_to_coco, require_pycocotools
from avssl.transforms.functional.appearance import IMAGENET_MEAN, IMAGENET_STD

INITS = ("run", "random")


@dataclass
class DetectionConfig:
    """Fine-tuning: steps, images per batch, SGD learning rate, input size (shorter side, px), seed, RoI head
    width, RoIs sampled per image, channels of the feature map the heads read (0: the encoder's own), and
    `frozen_backbone`: the encoder's weights and batch-norm statistics stay as given (only the lateral 1 × 1
    projection, the RPN and the RoI heads train) — the detection analogue of a linear probe, which measures
    the pretrained feature maps themselves."""

    steps: int = 300
    batch_size: int = 8
    lr: float = 0.02
    size: int = 128
    seed: int = 0
    head_dim: int = 256
    rois_per_image: int = 64
    channels: int = 64
    frozen_backbone: bool = False

    def __post_init__(self):
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0 or self.size < 16:
            raise ValueError(
                f"detection needs steps >= 0, batch_size >= 1, lr > 0 and size >= 16, got {self}"
            )


class DetectionBackbone(nn.Module):
    """An image encoder as a torchvision detection backbone: (B, 3, H, W) → {"0": (B, C', h, w)}, with
    `out_channels` = C'. With `channels` a 1 × 1 convolution (new, trained) projects the encoder's C =
    `out_dim` channels to C' = `channels`, as an FPN's lateral layer does (it also keeps RoIAlign's cost,
    linear in C', low on a CPU); without, C' = C. A video map (B, C, 1, h, w) is squeezed."""

    def __init__(self, encoder: nn.Module, channels: int | None = None, frozen: bool = False):
        super().__init__()
        self.body = encoder
        self.frozen = frozen
        if frozen:
            encoder.requires_grad_(False)
        dim = int(encoder.out_dim)
        self.lateral = nn.Conv2d(dim, channels, 1) if channels else nn.Identity()
        self.out_channels = int(channels or dim)

    def train(self, mode: bool = True) -> DetectionBackbone:
        super().train(mode)
        if self.frozen:
            self.body.eval()  # frozen: batch-norm statistics stay the encoder's
        return self

    def forward(self, images: Tensor) -> OrderedDict[str, Tensor]:
        features = self.body(images)
        if features.dim() == 5:
            features = features[:, :, 0]
        return OrderedDict([("0", self.lateral(features))])


def reinitialised(module: nn.Module, seed: int) -> nn.Module:
    """A copy of `module` with every submodule's `reset_parameters()` drawn under `seed` (random init with
    the same architecture; batch-norm running statistics reset too)."""
    module = copy.deepcopy(module)
    torch.manual_seed(seed)
    for sub in module.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
    return module


def build_detector(backbone: nn.Module, num_classes: int, cfg: DetectionConfig) -> nn.Module:
    """Faster R-CNN (torchvision) on `backbone` (an encoder with `out_dim`, copied) for `num_classes`
    object classes plus background; anchors and transform as in the module docstring."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    body = DetectionBackbone(copy.deepcopy(backbone), cfg.channels or None, cfg.frozen_backbone)
    sizes = tuple(max(4, int(round(cfg.size * f))) for f in (1 / 8, 1 / 4, 1 / 2))
    anchors = AnchorGenerator(sizes=(sizes,), aspect_ratios=((0.5, 1.0, 2.0),))
    roi_pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=1)
    return FasterRCNN(
        body,
        num_classes=None,
        min_size=cfg.size,
        max_size=int(math.ceil(cfg.size * 5 / 3)),
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=300,
        rpn_post_nms_top_n_train=150,
        rpn_pre_nms_top_n_test=150,
        rpn_post_nms_top_n_test=100,
        rpn_batch_size_per_image=64,
        box_roi_pool=roi_pool,
        box_head=TwoMLPHead(body.out_channels * 7 * 7, cfg.head_dim),
        box_predictor=_predictor(cfg.head_dim, num_classes + 1),
        box_batch_size_per_image=cfg.rois_per_image,
        box_score_thresh=0.01,
        box_detections_per_img=100,
    )


def _predictor(dim: int, classes: int) -> nn.Module:
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    return FastRCNNPredictor(dim, classes)


def _image_tensor(image: np.ndarray) -> Tensor:
    """RGB uint8 (H, W, 3) → float (3, H, W) in [0, 1] (the detector normalises)."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0


def training_batch(
    dataset: COCODataset, indices: Sequence[int], rng: np.random.Generator, device: torch.device | str
) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    """Images (3, H_i, W_i) in [0, 1] and targets {"boxes" (N_i, 4) xyxy px, "labels" (N_i,) in 1..K} of
    `indices`, each flipped horizontally with probability 1/2."""
    images, targets = [], []
    for i in indices:
        image, target = _image_tensor(dataset.image(i)), dataset.target(int(i))
        boxes = torch.from_numpy(target["boxes"])
        if rng.uniform() < 0.5:
            image = image.flip(-1)
            width = image.shape[-1]
            boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
        images.append(image.to(device))
        labels = torch.from_numpy(target["labels"]) + 1
        targets.append({"boxes": boxes.to(device), "labels": labels.to(device)})
    return images, targets


def train_detector(detector: nn.Module, dataset: COCODataset, cfg: DetectionConfig) -> list[float]:
    """Train `detector` in place for `cfg.steps` SGD steps on `dataset`; returns the loss of every step."""
    device = next(detector.parameters()).device
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    params = [p for p in detector.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=1e-4)
    warmup = max(1, cfg.steps // 10)
    order: list[int] = []
    losses = []
    detector.train()
    for step in range(cfg.steps):
        while len(order) < cfg.batch_size:
            order += rng.permutation(len(dataset)).tolist()
        batch, order = order[: cfg.batch_size], order[cfg.batch_size :]
        images, targets = training_batch(dataset, batch, rng, device)
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / warmup)
        loss = sum(detector(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def predict_detections(detector: nn.Module, dataset: COCODataset, batch_size: int = 8) -> list[dict]:
    """The detector's boxes on every image of `dataset` in COCO's result format (boxes in the image's own
    pixels; label k + 1 → the category id of label k)."""
    device = next(detector.parameters()).device
    was_training = detector.training
    detector.eval()
    category_ids = np.array([c["id"] for c in dataset.categories])
    results = []
    try:
        for start in range(0, len(dataset), batch_size):
            indices = range(start, min(len(dataset), start + batch_size))
            outputs = detector([_image_tensor(dataset.image(i)).to(device) for i in indices])
            results += detections_to_coco(
                [dataset.images[i].id for i in indices],
                [o["boxes"].cpu().numpy() for o in outputs],
                [o["scores"].cpu().numpy() for o in outputs],
                [category_ids[o["labels"].cpu().numpy() - 1] for o in outputs],
            )
    finally:
        detector.train(was_training)
    return results


def ground_truth(dataset: COCODataset) -> dict:
    """The split's annotations as a COCO dict for COCOeval (images, boxes, areas, crowd flags, categories)."""
    images = [
        {"id": im.id, "file_name": im.file_name, "width": im.size[0], "height": im.size[1]}
        for im in dataset.images
    ]
    annotations = [
        {
            "id": o.id,
            "image_id": im.id,
            "category_id": o.category_id,
            "bbox": [o.box[0], o.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1]],
            "area": o.area,
            "iscrowd": int(o.iscrowd),
        }
        for im in dataset.images
        for o in im.objects
    ]
    return {"images": images, "annotations": annotations, "categories": list(dataset.categories)}


def detection_report(
    backbone: nn.Module,
    root: str,
    cfg: DetectionConfig | None = None,
    init: str = "run",
    device: torch.device | str = "cpu",
    train_split: str = "train2017",
    val_split: str = "val2017",
) -> dict:
    """Fine-tune Faster R-CNN on `backbone` (`init` "run": its weights; "random": reinitialised) on the
    training split of the COCO tree at `root` and score it on the validation split: {"AP", "AP50", "AP75",
    "APs", "APm", "APl" (percent), "init", "classes", "num_train", "num_val", "final_loss", "config"}."""
    require_pycocotools()
    cfg = cfg or DetectionConfig()
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    train, val = COCODataset(root, train_split), COCODataset(root, val_split)
    if train.classes != val.classes:
        raise ValueError(f"{root}: the splits' categories differ ({train.classes} vs {val.classes})")
    if init == "random":
        backbone = reinitialised(backbone, cfg.seed)
    torch.manual_seed(cfg.seed)
    detector = build_detector(backbone, train.num_classes, cfg).to(device)
    for p in detector.parameters():
        p.requires_grad_(True)
    if cfg.frozen_backbone:
        detector.backbone.body.requires_grad_(False)
    losses = train_detector(detector, train, cfg)
    scores = coco_ap(ground_truth(val), predict_detections(detector, val, cfg.batch_size))
    return {
        **scores,
        "init": init,
        "classes": list(train.classes),
        "num_train": len(train),
        "num_val": len(val),
        "final_loss": round(float(np.mean(losses[-10:])), 5) if losses else None,
        "config": asdict(cfg),
    }
