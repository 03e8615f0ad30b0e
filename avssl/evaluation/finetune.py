"""Full fine-tuning for action recognition: the run's encoder and a new linear classifier trained end to end
with cross-entropy on the clips of the training split, then scored with the multi-clip test.

The protocol of the self-supervised video papers (e.g. Qian et al., CVRL, CVPR 2021; Feichtenhofer et al.,
"A Large-Scale Study on Unsupervised Spatiotemporal Representation Learning", CVPR 2021): every weight is
trained; only the initialisation comes from self-supervision. Here the classifier reads the task's video
embedding (`task.embed(batch, "video")`, the pooled encoder map), so any task that embeds video can be
fine-tuned; the task is copied, the loaded model is left as it was. Training clips come from the run's
training transforms (random windows, `data.transforms`), a fixed seed and AdamW; evaluation is the
multi-clip test of `avssl.evaluation.action` (softmax probabilities averaged over each video's clips).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.data.loader import DataConfig, ResumableBatchSampler, build_dataset, build_loader
from avssl.device import module_device, to_device
from avssl.evaluation.action import MultiClipDataset, video_probabilities
from avssl.evaluation.probe import topk_accuracy


@dataclass
class FinetuneConfig:
    """Optimisation of the fine-tuning: steps, clips per batch, AdamW learning rate / weight decay, seed."""

    steps: int = 200
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    num_workers: int = 0


class ActionClassifier(nn.Module):
    """A task's video embedding (B, D) → a linear layer → class logits (B, C)."""

    def __init__(self, task: nn.Module, dim: int, num_classes: int) -> None:
        super().__init__()
        self.task, self.linear = task, nn.Linear(dim, num_classes)

    def forward(self, video: Tensor) -> Tensor:
        """(B, C, T, H, W) → (B, num_classes)."""
        return self.linear(self.task.embed({"video": video}, "video"))


def finetune(
    task: nn.Module, data: DataConfig, split: str | None, num_classes: int, cfg: FinetuneConfig
) -> ActionClassifier:
    """A copy of `task` with a linear classifier, trained `cfg.steps` steps on random clips of `split`."""
    if cfg.steps < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise ValueError(f"fine-tuning needs steps >= 1, batch_size >= 1 and lr > 0, got {cfg}")
    torch.manual_seed(cfg.seed)
    device = module_device(task)
    train_data = dataclasses.replace(data, split=split, views=[])
    dataset = build_dataset(train_data, train=True, seed=cfg.seed)
    if not dataset.items or any(item.label is None for item in dataset.items):
        raise FileNotFoundError(f"{data.root}: split {split!r} has no labelled videos to fine-tune on")
    batch = min(cfg.batch_size, len(dataset))
    sampler = ResumableBatchSampler(len(dataset), batch, cfg.seed, endless=True)
    loader = build_loader(dataset, batch, cfg.num_workers, sampler=sampler)
    model = copy.deepcopy(task)
    for p in model.parameters():
        p.requires_grad_(True)
    with torch.no_grad():
        first = next(iter(build_loader(dataset, 1, 0)))  # the embedding's width
        dim = model.eval().embed(to_device(first, device), "video").shape[1]
    classifier = ActionClassifier(model, dim, num_classes).to(device).train()
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    for _, batch_data in zip(range(cfg.steps), loader):
        batch_data = to_device(batch_data, device)
        loss = F.cross_entropy(classifier(batch_data["video"]), batch_data["label"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return classifier.eval()


@torch.no_grad()
def clip_logits(
    classifier: ActionClassifier, data: DataConfig, split: str | None, num_clips: int, batch_size: int = 16
) -> tuple[Tensor, Tensor]:
    """(logits (V·n, C) of n clips per video, video-major; labels (V,)) of `split` with the eval transforms."""
    base = build_dataset(dataclasses.replace(data, split=split), train=False, seed=0)
    if not base.items or any(item.label is None for item in base.items):
        raise FileNotFoundError(f"{data.root}: split {split!r} has no labelled videos")
    device = module_device(classifier)
    rows = [
        classifier(to_device(b, device)["video"]).float().cpu()
        for b in build_loader(MultiClipDataset(base, num_clips), batch_size, 0)
    ]
    return torch.cat(rows), torch.tensor([item.label for item in base.items], dtype=torch.long)


def finetune_accuracy(logits: Tensor, labels: Tensor, num_clips: int) -> dict:
    """{"top1", "top5", "num_videos"}: softmax of each clip's logits averaged per video, top-k per video."""
    probs = video_probabilities(logits.softmax(1), num_clips)
    return {**topk_accuracy(probs, labels), "num_videos": int(labels.shape[0])}
