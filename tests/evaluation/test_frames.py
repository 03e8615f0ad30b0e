"""Frame-level protocols (TCC / CARL) against naive references: Kendall's τ-b by counting concordant pairs,
retrieval precision by a loop, phase progression and classification against scikit-learn's
LinearRegression / r2_score and LogisticRegression (the estimators the authors' evaluation uses)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score

from avssl.evaluation.frames import (
    kendalls_tau,
    phase_classification,
    phase_progression,
    progress_targets,
    retrieval_precision,
)


def _videos(seed: int, n: int = 4, dim: int = 6, phases: int = 3):
    g = torch.Generator().manual_seed(seed)
    videos, labels = [], []
    for _ in range(n):
        length = int(torch.randint(12, 20, (1,), generator=g))
        bounds = sorted(torch.randperm(length - 2, generator=g)[: phases - 1].add(1).tolist())
        lab = torch.zeros(length, dtype=torch.long)
        for b in bounds:
            lab[b:] += 1
        centre = torch.randn(phases, dim, generator=g)
        videos.append(centre[lab] + 0.8 * torch.randn(length, dim, generator=g))
        labels.append(lab)
    return videos, labels


def naive_tau_b(x: list[float], y: list[float]) -> float:
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif dx * dy > 0:
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else math.nan


def _unit(v):
    return [row / np.linalg.norm(row) for row in v.double().numpy()]


def test_kendalls_tau_equals_pair_counting() -> None:
    videos, _ = _videos(0)
    for stride in (1, 2):
        expected = []
        for u, a in enumerate(videos):
            for v, b in enumerate(videos):
                if u == v:
                    continue
                qa, qb = _unit(a)[::stride], _unit(b)[::stride]
                nearest = [min(range(len(qb)), key=lambda j: float(((q - qb[j]) ** 2).sum())) for q in qa]
                tau = naive_tau_b(list(range(len(qa))), nearest)
                if not math.isnan(tau):
                    expected.append(tau)
        assert kendalls_tau(videos, stride) == pytest.approx(np.mean(expected), abs=1e-12)
    angle = torch.arange(15) * 0.1  # an arc: two copies of one video align frame for frame
    arc = torch.stack([angle.cos(), angle.sin()], dim=1)
    assert kendalls_tau([arc, arc.clone()]) == pytest.approx(1.0)
    assert kendalls_tau([arc, arc.flip(0)]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="two videos"):
        kendalls_tau([arc])


def test_retrieval_precision_equals_the_loop() -> None:
    videos, labels = _videos(1, n=5)
    labels[2][:3] = -1  # unscored frames are neither queries nor candidates
    got = retrieval_precision(videos, labels, ks=(1, 5, 10))
    for k in (1, 5, 10):
        per_video = []
        for u in range(5):
            pool = [
                (f, int(labels[w][t]))
                for w in range(5)
                if w != u
                for t, f in enumerate(_unit(videos[w]))
                if labels[w][t] >= 0
            ]
            scores = []
            for t, q in enumerate(_unit(videos[u])):
                if labels[u][t] < 0:
                    continue
                ranked = sorted(range(len(pool)), key=lambda i: float(((q - pool[i][0]) ** 2).sum()))[:k]
                scores.append(sum(pool[i][1] == int(labels[u][t]) for i in ranked) / k)
            per_video.append(100 * np.mean(scores))
        assert got[k] == pytest.approx(np.mean(per_video), abs=1e-9)


def test_progress_targets_and_progression_r2_equal_sklearn() -> None:
    lab = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    targets = progress_targets(lab, 3)
    assert torch.allclose(targets[:, 0], (torch.arange(10).double() - 2) / 10.0)
    assert torch.allclose(targets[:, 1], (torch.arange(10).double() - 4) / 10.0)
    train, train_labels = _videos(2, n=6)
    val, val_labels = _videos(3, n=3)
    ours = phase_progression(train, train_labels, val, val_labels, 3)
    x = np.concatenate([_unit(v) for v in train])
    xv = np.concatenate([_unit(v) for v in val])
    y = torch.cat([progress_targets(lab, 3) for lab in train_labels]).numpy()
    yv = torch.cat([progress_targets(lab, 3) for lab in val_labels]).numpy()
    reference = np.mean(
        [r2_score(yv[:, c], LinearRegression().fit(x, y[:, c]).predict(xv)) for c in range(2)]
    )
    assert ours == pytest.approx(reference, abs=1e-9)


def test_phase_classification_equals_sklearn_logistic_regression() -> None:
    train, train_labels = _videos(4, n=6)
    val, val_labels = _videos(5, n=3)
    x = np.concatenate([_unit(v) for v in train])
    xv = np.concatenate([_unit(v) for v in val])
    y, yv = torch.cat(train_labels).numpy(), torch.cat(val_labels).numpy()
    model = LogisticRegression(max_iter=100_000, tol=1e-10).fit(x, y)
    reference = 100.0 * float((model.predict(xv) == yv).mean())
    assert phase_classification(train, train_labels, val, val_labels) == pytest.approx(reference)
    with pytest.raises(ValueError, match="labelled frames"):
        phase_classification(train, train_labels, val, [torch.full_like(lab, -1) for lab in val_labels])
