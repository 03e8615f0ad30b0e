"""VOC07 classification: 11-point AP on a hand-worked ranking, the uninterpolated AP against scikit-learn,
difficult images left out, tied scores order-free, targets from the XML objects, and the one-vs-rest probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from avssl.data.datasets.voc import VOCAnnotation, VOCObject
from avssl.evaluation.voc_cls import (
    average_precision,
    mean_average_precision,
    voc_classification_metrics,
    voc_targets,
)

# ranked: TP, FP, TP, FP, TP → (R, P) = (1/3, 1), (1/3, 1/2), (2/3, 2/3), (2/3, 1/2), (1, 3/5)
SCORES = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
TARGETS = torch.tensor([1, -1, 1, -1, 1])


def test_eleven_point_ap_of_a_hand_worked_ranking() -> None:
    # t = 0, .1, .2, .3: max P at R ≥ t is 1; t = .4, .5, .6: 2/3; t = .7 … 1: 3/5
    assert average_precision(SCORES, TARGETS, "voc07") == pytest.approx((4 * 1 + 3 * 2 / 3 + 4 * 0.6) / 11)
    # Σ ΔR · P = 1/3 · 1 + 1/3 · 2/3 + 1/3 · 3/5
    assert average_precision(SCORES, TARGETS, "uninterpolated") == pytest.approx((1 + 2 / 3 + 0.6) / 3)
    assert average_precision(SCORES, torch.tensor([1, 1, -1, -1, -1]), "voc07") == 1.0
    with pytest.raises(ValueError, match="at least one positive"):
        average_precision(SCORES, -torch.ones(5, dtype=torch.long))
    with pytest.raises(ValueError, match="mode must be one of"):
        average_precision(SCORES, TARGETS, "voc12")


def test_uninterpolated_ap_is_scikit_learns() -> None:
    rng = np.random.default_rng(0)
    for n in (5, 17, 200):
        for _ in range(10):
            targets = np.where(rng.uniform(size=n) < 0.3, 1, -1)
            targets[0] = 1
            scores = np.round(rng.normal(size=n) + targets, 1)  # rounded: ties too
            ours = average_precision(torch.from_numpy(scores), torch.from_numpy(targets), "uninterpolated")
            assert ours == pytest.approx(average_precision_score(targets == 1, scores))


def test_difficult_images_are_left_out_and_ties_are_order_free() -> None:
    scores = torch.cat([torch.tensor([1.0, 0.95]), SCORES])
    targets = torch.cat([torch.tensor([0, 0]), TARGETS])  # top-ranked, but only difficult objects
    for mode in ("voc07", "uninterpolated"):
        assert average_precision(scores, targets, mode) == average_precision(SCORES, TARGETS, mode)
    tied, t = torch.tensor([0.5, 0.5, 0.5, 0.2]), torch.tensor([1, -1, -1, 1])
    assert average_precision(tied, t) == average_precision(
        tied.flip(0)[[1, 2, 3, 0]], t.flip(0)[[1, 2, 3, 0]]
    )


def test_targets_from_objects() -> None:
    def obj(label: int, difficult: bool) -> VOCObject:
        return VOCObject(str(label), label, (0.0, 0.0, 1.0, 1.0), difficult)

    annotations = [
        VOCAnnotation("a.jpg", (4, 4), (obj(0, False), obj(1, True))),
        VOCAnnotation("b.jpg", (4, 4), (obj(1, True), obj(1, False), obj(2, True), obj(2, True))),
    ]
    assert voc_targets(annotations, 4).tolist() == [[1, 0, -1, -1], [-1, 1, 0, -1]]


def test_map_over_classes_with_positives_and_the_probe_learns() -> None:
    scores = torch.stack([SCORES, SCORES, -SCORES], 1)
    targets = torch.stack([TARGETS, torch.tensor([0, -1, -1, -1, -1]), TARGETS], 1)
    report = mean_average_precision(scores, targets)
    assert report["ap"][1] is None and report["classes_scored"] == 2
    assert report["mAP"] == pytest.approx(np.mean([report["ap"][0], report["ap"][2]]))
    g = torch.Generator().manual_seed(0)
    labels = torch.rand(60, 3, generator=g) < 0.4
    features = labels.float() * 2 + 0.3 * torch.randn(60, 3, generator=g)  # class k lives in dimension k
    targets = torch.where(labels, 1, -1).to(torch.int8)
    metrics = voc_classification_metrics(features[:40], targets[:40], features[40:], targets[40:])
    assert metrics["mAP"] > 95 and metrics["ap_mode"] == "voc07" and metrics["num_test"] == 20
