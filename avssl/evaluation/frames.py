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

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import kendalltau
from torch import Tensor

from avssl.data.datasets.base import ClipDataset
from avssl.data.datasets.pennaction import nearest_indices, read_phases
from avssl.data.loader import DataConfig

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


@dataclass
class FrameFeatures:
    """Per video of one split: its id, action (class index), frame embeddings (T, D) and phase labels (T,)."""

    ids: list[str]
    actions: list[int]
    features: list[Tensor]
    phases: list[Tensor]


def _phase_labels(item) -> np.ndarray | None:
    """An item's per-frame phases: inline (`meta["phase_labels"]`, Pouring) or a phase file (Penn Action)."""

    if item.meta.get("phase_labels") is not None:
        return np.asarray(item.meta["phase_labels"], dtype=np.int64)
    if item.meta.get("phases"):
        return read_phases(item.meta["phases"], len(item.frames))
    return None


@torch.no_grad()
def frame_features(task: torch.nn.Module, data: DataConfig, split: str, chunk: int = 64) -> FrameFeatures:
    """Every frame of every phase-labelled video of `split` of `data` (a phase-labelled layout: pennaction,
    pouring), at its own frame rate and `data.size` through the evaluation transforms, embedded by the task's
    `embed_frames` (the whole video at once: frame-wise models see their temporal context) or, for a task
    without it, each frame on its own by `embed(…, "video")` as a one-frame clip (a frame-independent
    baseline), `chunk` frames per pass. A video whose decoded frames outnumber or fall short of its labels
    is matched by nearest index. Videos without phase labels are left out; none at all is an error naming
    the root."""
    from avssl.data.datasets import load_index
    from avssl.data.loader import clip_spec, data_transforms

    labelled = [(i, _phase_labels(i)) for i in load_index(data.layout, data.root, split).items]
    items = [(item, phases) for item, phases in labelled if phases is not None]  # each label file read once
    if not items:
        raise ValueError(f"{data.root}: no {split} videos with phase labels")
    device = next(task.parameters()).device
    transform = data_transforms(data, train=False)
    out = FrameFeatures([], [], [], [])
    for item, phases in items:
        rate = float(item.meta["frame_rate"])
        spec = dataclasses.replace(clip_spec(data, "start"), duration_s=len(phases) / rate, fps=rate)
        dataset = ClipDataset([item], spec, transform, mode="eval")
        video = dataset[0]["video"][None].to(device)  # (1, C, T, H, W): one frame per label
        if hasattr(task, "embed_frames"):
            feats = task.embed_frames({"video": video})[0]
        else:
            frames = video[0].transpose(0, 1)[:, :, None]  # (T, C, 1, H, W)
            feats = torch.cat([task.embed({"video": f}, "video") for f in frames.split(chunk)])
        if len(feats) != len(phases):
            feats = feats[nearest_indices(len(feats), len(phases))]
        out.ids.append(item.id)
        out.actions.append(int(item.label))
        out.features.append(feats.float().cpu())
        out.phases.append(torch.from_numpy(phases))
    return out


def frame_report(
    train: FrameFeatures, val: FrameFeatures, stride: int = 1, ks: Sequence[int] = RETRIEVAL_KS
) -> dict:
    """The four protocols per action (its videos' own phases), then averaged over the actions that have
    videos in both splits: {"classification", "progression", "kendalls_tau", "retrieval": {"AP@K"},
    "per_action": {action: …}}."""
    per_action = {}
    for action in sorted(set(train.actions) & set(val.actions)):
        tr = [k for k, a in enumerate(train.actions) if a == action]
        va = [k for k, a in enumerate(val.actions) if a == action]
        tf, tl = [train.features[k] for k in tr], [train.phases[k] for k in tr]
        vf, vl = [val.features[k] for k in va], [val.phases[k] for k in va]
        phases = int(max(int(p.max()) for p in tl + vl)) + 1
        entry = {
            "classification": phase_classification(tf, tl, vf, vl),
            "progression": phase_progression(tf, tl, vf, vl, phases) if phases > 1 else math.nan,
            "kendalls_tau": kendalls_tau(vf, stride) if len(vf) > 1 else math.nan,
            "num_train_videos": len(tr),
            "num_val_videos": len(va),
        }
        frames_elsewhere = sum(len(v[::stride]) for v in vf) - max(len(v[::stride]) for v in vf)
        if len(vf) > 1 and frames_elsewhere >= max(ks):
            entry["retrieval"] = {f"AP@{k}": v for k, v in retrieval_precision(vf, vl, ks, stride).items()}
        per_action[str(action)] = entry
    if not per_action:
        raise ValueError("frame evaluation needs an action with videos in both splits")

    def mean(key: str) -> float:
        values = [e[key] for e in per_action.values() if not math.isnan(e[key])]
        return float(np.mean(values)) if values else math.nan

    retrieval = [e["retrieval"] for e in per_action.values() if "retrieval" in e]
    report = {key: mean(key) for key in ("classification", "progression", "kendalls_tau")}
    report["retrieval"] = (
        {k: float(np.mean([r[k] for r in retrieval])) for k in retrieval[0]} if retrieval else {}
    )
    return _no_nan({**report, "per_action": per_action, "stride": stride})


def _no_nan(value):
    """The report with undefined figures (NaN: too few videos for a protocol) as None, so it is valid JSON."""
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value
