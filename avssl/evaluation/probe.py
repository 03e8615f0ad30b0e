"""Frozen-feature evaluation: weighted kNN and a linear probe, top-1 / top-5 accuracy in percent.

kNN follows Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance Discrimination" (InstDisc,
CVPR 2018) as used by DINO (Caron et al., "Emerging Properties in Self-Supervised Vision Transformers",
ICCV 2021): cosine similarity to the training features, the k = 20 nearest vote for their label with weight
exp(sim / τ), τ = 0.07. The linear probe is a multinomial logistic regression on L2-normalised, standardised
features (full-batch L-BFGS with L2 regularisation), the standard linear evaluation of self-supervised
features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def topk_accuracy(
    scores: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)
) -> dict[str, float]:
    """Percentage of rows whose label is among the k highest scores (ties broken by torch.topk)."""
    out = {}
    for k in ks:
        k_eff = min(k, scores.shape[1])
        top = scores.topk(k_eff, dim=1).indices
        out[f"top{k}"] = float(100.0 * (top == labels[:, None]).any(1).float().mean())
    return out


def knn_scores(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    chunk: int = 1024,
) -> torch.Tensor:
    """Class scores (N_test, C): Σ over the k nearest training features of exp(cos / τ) per label."""
    train = F.normalize(train.double(), dim=1)
    test = F.normalize(test.double(), dim=1)
    k = min(k, train.shape[0])
    scores = torch.zeros(test.shape[0], num_classes, dtype=torch.float64)
    for start in range(0, test.shape[0], chunk):
        sims = test[start : start + chunk] @ train.T  # (c, N_train)
        top, idx = sims.topk(k, dim=1)
        weights = (top / temperature).exp()
        scores[start : start + chunk].scatter_add_(1, train_labels[idx], weights)
    return scores


def linear_probe_scores(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    num_classes: int,
    weight_decay: float = 1e-4,
    max_iter: int = 200,
) -> torch.Tensor:
    """Logits (N_test, C) of a logistic regression fit on the training features."""
    train, test = F.normalize(train.double(), dim=1), F.normalize(test.double(), dim=1)
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    train, test = (train - mean) / std, (test - mean) / std
    linear = torch.nn.Linear(train.shape[1], num_classes, dtype=torch.float64)
    optimizer = torch.optim.LBFGS(
        linear.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(train), train_labels) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return linear(test)


def probe_metrics(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
) -> dict:
    """{"knn": {"top1", "top5"}, "linear": {...}, "num_train", "num_test", "num_classes"}."""
    return {
        "knn": topk_accuracy(knn_scores(train, train_labels, test, num_classes), test_labels),
        "linear": topk_accuracy(linear_probe_scores(train, train_labels, test, num_classes), test_labels),
        "num_train": int(train.shape[0]),
        "num_test": int(test.shape[0]),
        "num_classes": num_classes,
    }
