"""Best-overlap segment mIoU (`avssl.evaluation.segments`) against a naive per-pixel loop reference."""

from __future__ import annotations

import pytest
import torch

from avssl.evaluation.segments import best_overlap_ious, segment_miou


def _naive(pred: torch.Tensor, target: torch.Tensor) -> list[float]:
    scores = []
    for g in sorted(set(target.flatten().tolist())):
        best = 0.0
        for p in set(pred.flatten().tolist()):
            inter = union = 0
            for y in range(target.shape[0]):
                for x in range(target.shape[1]):
                    a, b = int(target[y, x]) == g, int(pred[y, x]) == p
                    inter += a and b
                    union += a or b
            best = max(best, inter / union)
        scores.append(best)
    return scores


@pytest.mark.parametrize("seed", [0, 1])
def test_best_overlap_matches_the_naive_reference(seed) -> None:
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 3, (9, 11), generator=g)
    pred = torch.randint(0, 5, (9, 11), generator=g) * 7  # any label values
    assert best_overlap_ious(pred, target).tolist() == pytest.approx(_naive(pred, target))


def test_known_cases() -> None:
    target = torch.zeros(4, 4, dtype=torch.long)
    target[:, 2:] = 5
    assert segment_miou([target + 3], [target]) == pytest.approx(100.0)  # relabelled: perfect
    assert segment_miou([torch.zeros(4, 4)], [target]) == pytest.approx(50.0)  # one segment: the areas
    split = target.clone()
    split[:2, :2] = 9  # the left segment cut in halves: IoU 0.5 for it, 1 for the right one
    assert segment_miou([split], [target]) == pytest.approx(75.0)
    assert segment_miou([split, target], [target, target]) == pytest.approx(87.5)
    with pytest.raises(ValueError, match="differ in size"):
        best_overlap_ious(torch.zeros(3, 3), target)
    with pytest.raises(ValueError, match="no images"):
        segment_miou([], [])
