"""Scene → object retrieval metrics against a hand-computed case and a naive sorted-list loop."""

from __future__ import annotations

import pytest
import torch

from avssl.evaluation.scene_objects import cosine_scores, hyperbolic_scores, scene_object_metrics


def naive(scores: torch.Tensor, owner: torch.Tensor, k: int) -> tuple[float, float]:
    """mAP and R@k (percent) by walking each scene's list sorted by score (ties: relevant items last)."""
    aps, hits_at_k = [], []
    for i in range(scores.shape[0]):
        items = list(range(scores.shape[1]))
        rel = {j for j in items if int(owner[j]) == i}
        if not rel:
            continue
        order = sorted(items, key=lambda j: (-float(scores[i, j]), j in rel))
        found, precisions = 0, []
        for position, j in enumerate(order, start=1):
            if j in rel:
                found += 1
                precisions.append(found / position)
        aps.append(sum(precisions) / len(rel))
        hits_at_k.append(any(j in rel for j in order[:k]))
    return 100 * sum(aps) / len(aps), 100 * sum(hits_at_k) / len(hits_at_k)


def test_hand_made_case() -> None:
    # scene 0 owns objects 0, 1; scene 1 owns object 2; scene 2 owns nothing (left out)
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.3], [0.2, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    owner = torch.tensor([0, 0, 1, 3])
    out = scene_object_metrics(scores, owner, ks=(1, 2))
    # scene 0: ranks of its objects 1 and 4 → AP = (1/1 + 2/4) / 2 = 0.75; R@1 hit
    # scene 1: its object ranks 2 → AP = 1/2; R@1 miss, R@2 hit
    assert out["mAP"] == pytest.approx(100 * (0.75 + 0.5) / 2)
    assert out["R@1"] == pytest.approx(50.0) and out["R@2"] == pytest.approx(100.0)
    assert out["scenes"] == 2 and out["objects"] == 4


def test_ties_are_pessimistic() -> None:
    out = scene_object_metrics(torch.zeros(2, 4), torch.tensor([0, 1, 1, 0]), ks=(1,))
    # relevant items last: positions 3, 4 → AP = (1/3 + 2/4) / 2, no hit at 1
    assert out["mAP"] == pytest.approx(100 * (1 / 3 + 2 / 4) / 2) and out["R@1"] == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_random_scores_match_the_loop(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(6, 15, generator=g)
    owner = torch.randint(0, 7, (15,), generator=g)
    out = scene_object_metrics(scores, owner, ks=(1, 5))
    for k in (1, 5):
        ap, recall = naive(scores, owner, k)
        assert out["mAP"] == pytest.approx(ap) and out[f"R@{k}"] == pytest.approx(recall)
    # rounded scores, many ties: still the loop with relevant items after their ties
    rounded = (scores * 2).round()
    ap, recall = naive(rounded, owner, 5)
    out = scene_object_metrics(rounded, owner, ks=(5,))
    assert out["mAP"] == pytest.approx(ap) and out["R@5"] == pytest.approx(recall)


def test_score_functions() -> None:
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    torch.testing.assert_close(cosine_scores(x, x), torch.eye(2, dtype=torch.float64))
    near = hyperbolic_scores(0.1 * x, 0.1 * x, 0.05)
    assert near.diagonal().abs().max() < 1e-6 and (near.diagonal()[:, None] > near).sum() == 2
