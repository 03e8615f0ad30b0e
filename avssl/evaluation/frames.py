"""Frame-level evaluation of frame-wise video representations: phase classification, phase progression,
Kendall's τ of cross-video alignment and fine-grained frame retrieval.

The protocols of Dwibedi et al., "Temporal Cycle-Consistency Learning" (CVPR 2019) as CARL (Chen et al.,
"Frame-wise Action Representations for Long Videos via Sequence Contrastive Learning", CVPR 2022) computes
them, on per-frame embeddings (L2-normalised here, as there) and per-frame phase labels (label < 0: frame
not scored):

* **phase classification**: a multinomial logistic regression fit on the training videos' frames (the
  scikit-learn objective C · Σ cross-entropy + ½‖W‖², bias unpenalised, C = 1), accuracy on the
  validation frames;
* **phase progression**: for each phase c = 0 … C − 2 the target of frame t is (t − e_c) / T, e_c the last
  frame labelled c in its video and T the video's length; one least-squares linear regression (with bias)
  per target; the score is R² = 1 − SS_res / SS_tot per target on the validation frames, averaged;
* **Kendall's τ**: for every ordered pair of validation videos (u, v), each frame of u finds its nearest
  frame of v (squared Euclidean); τ-b between the frame order of u and the order of the neighbours found;
  averaged over pairs (undefined pairs — all neighbours equal — left out);
* **frame retrieval precision@K** ("AP@K" in those papers): each validation frame retrieves its K nearest
  frames among the other validation videos' frames; the share with its phase label, averaged over a
  video's frames, then over videos. K ∈ {5, 10, 15}.

`stride` subsamples the validation videos' frames for τ and retrieval (the authors: 2 on PennAction, 5 on
Pouring). PennAction figures are computed per action and averaged over actions (`per_action_mean`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import kendalltau
from torch import Tensor

RETRIEVAL_KS = (5, 10, 15)


def _normalised(videos: Sequence[Tensor]) -> list[Tensor]:
    return [F.normalize(v.double(), dim=1) for v in videos]


def _scored(videos: Sequence[Tensor], labels: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """All frames with label >= 0 of the videos: (N, D) features, (N,) labels."""
    feats = torch.cat([v[lab >= 0] for v, lab in zip(_normalised(videos), labels)])
    return feats, torch.cat([lab[lab >= 0] for lab in labels]).long()


def sklearn_logistic(
    train: Tensor, labels: Tensor, test: Tensor, c: float = 1.0, max_iter: int = 500
) -> Tensor:
    """Logits (N_test, K) of the multinomial logistic regression scikit-learn's LogisticRegression fits
    (C · Σ_n CE + ½‖W‖², bias unpenalised), by L-BFGS in float64."""
    classes = int(labels.max()) + 1
    linear = torch.nn.Linear(train.shape[1], classes, dtype=torch.float64)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(
        linear.parameters(),
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-10,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure():
        optimizer.zero_grad()
        loss = c * F.cross_entropy(linear(train), labels, reduction="sum") + 0.5 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return linear(test)


def phase_classification(
    train: Sequence[Tensor],
    train_labels: Sequence[Tensor],
    val: Sequence[Tensor],
    val_labels: Sequence[Tensor],
) -> float:
    """Accuracy (%) on the validation frames of the logistic regression fit on the training frames."""
    x, y = _scored(train, train_labels)
    xv, yv = _scored(val, val_labels)
    if len(yv) == 0 or len(y) == 0:
        raise ValueError("phase classification needs labelled frames (label >= 0) in both splits")
    return 100.0 * float((sklearn_logistic(x, y, xv).argmax(1) == yv).double().mean())


def progress_targets(labels: Tensor, num_phases: int) -> Tensor:
    """(T,) phase labels → (T, num_phases − 1) targets (t − e_c) / T, e_c the last frame labelled c (a phase
    absent from the video: its column is NaN)."""
    length = len(labels)
    t = torch.arange(length, dtype=torch.float64)
    columns = []
    for c in range(num_phases - 1):
        frames = (labels == c).nonzero().flatten()
        end = float(frames[-1]) if len(frames) else math.nan
        columns.append((t - end) / length)
    return torch.stack(columns, dim=1)


def _least_squares(x: Tensor, y: Tensor) -> Tensor:
    """(D + 1,) coefficients (bias last) of the least-squares fit of y on x."""
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    return torch.linalg.lstsq(design, y[:, None], driver="gelsd").solution[:, 0]


def phase_progression(
    train: Sequence[Tensor],
    train_labels: Sequence[Tensor],
    val: Sequence[Tensor],
    val_labels: Sequence[Tensor],
    num_phases: int,
) -> float:
    """Mean R² over the num_phases − 1 progress targets on the validation frames."""

    def stacked(videos, labels):
        feats = torch.cat([v[lab >= 0] for v, lab in zip(_normalised(videos), labels)])
        targets = torch.cat([progress_targets(lab, num_phases)[lab >= 0] for lab in labels])
        return feats, targets

    x, y = stacked(train, train_labels)
    xv, yv = stacked(val, val_labels)
    scores = []
    for c in range(num_phases - 1):
        keep, keep_v = ~y[:, c].isnan(), ~yv[:, c].isnan()
        coef = _least_squares(x[keep], y[keep, c])
        pred = xv[keep_v] @ coef[:-1] + coef[-1]
        truth = yv[keep_v, c]
        total = float(((truth - truth.mean()) ** 2).sum())
        scores.append(1.0 - float(((truth - pred) ** 2).sum()) / total if total > 0 else 0.0)
    return float(np.mean(scores))


def _squared_distances(a: Tensor, b: Tensor) -> Tensor:
    return (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None]


def kendalls_tau(videos: Sequence[Tensor], stride: int = 1) -> float:
    """Mean τ-b over the ordered pairs of videos (frames of each video (T, D) in time order)."""
    if len(videos) < 2:
        raise ValueError("Kendall's tau needs at least two videos")
    feats = [v[::stride] for v in _normalised(videos)]
    taus = []
    for u, query in enumerate(feats):
        for v, target in enumerate(feats):
            if u == v:
                continue
            nearest = _squared_distances(query, target).argmin(1).numpy()
            tau = kendalltau(np.arange(len(query)), nearest).statistic
            if not np.isnan(tau):
                taus.append(float(tau))
    return float(np.mean(taus)) if taus else math.nan


def retrieval_precision(
    videos: Sequence[Tensor], labels: Sequence[Tensor], ks: Sequence[int] = RETRIEVAL_KS, stride: int = 1
) -> dict[int, float]:
    """{K: precision@K (%)}: frames (label >= 0) querying the other videos' frames; per video, then mean."""
    feats = [v[::stride] for v in _normalised(videos)]
    labs = [lab[::stride].long() for lab in labels]
    per_video: dict[int, list[float]] = {k: [] for k in ks}
    for u in range(len(feats)):
        others = [w for w in range(len(feats)) if w != u]
        pool = torch.cat([feats[w][labs[w] >= 0] for w in others])
        pool_labels = torch.cat([labs[w][labs[w] >= 0] for w in others])
        query, query_labels = feats[u][labs[u] >= 0], labs[u][labs[u] >= 0]
        if len(query) == 0:
            continue
        if len(pool) < max(ks):
            raise ValueError(
                f"frame retrieval needs at least {max(ks)} frames in the other videos, got {len(pool)}"
            )
        order = torch.sort(_squared_distances(query, pool), dim=1, stable=True).indices
        for k in ks:
            hits = pool_labels[order[:, :k]] == query_labels[:, None]
            per_video[k].append(100.0 * float(hits.double().mean()))
    return {k: float(np.mean(v)) for k, v in per_video.items()}
