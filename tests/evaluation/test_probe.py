"""kNN and linear probe against naive references and on separable / random features."""

from __future__ import annotations

import math

import pytest
import torch

from avssl.evaluation.probe import knn_scores, linear_probe_scores, probe_metrics, topk_accuracy


def naive_knn(train, labels, test, num_classes, k, tau):
    out = []
    for q in test.tolist():
        sims = []
        for x, y in zip(train.tolist(), labels.tolist()):
            cos = sum(a * b for a, b in zip(q, x)) / (
                math.sqrt(sum(a * a for a in q)) * math.sqrt(sum(b * b for b in x))
            )
            sims.append((cos, y))
        sims.sort(key=lambda s: -s[0])
        votes = [0.0] * num_classes
        for cos, y in sims[:k]:
            votes[y] += math.exp(cos / tau)
        out.append(votes)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("chunk", [3, 100])
def test_knn_matches_naive(chunk):
    g = torch.Generator().manual_seed(0)
    train, test = torch.randn(40, 5, generator=g), torch.randn(9, 5, generator=g)
    labels = torch.randint(0, 4, (40,), generator=g)
    got = knn_scores(train, labels, test, 4, k=7, temperature=0.1, chunk=chunk)
    torch.testing.assert_close(got, naive_knn(train, labels, test, 4, 7, 0.1))


def test_topk_accuracy_by_hand():
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 0])
    assert topk_accuracy(scores, labels, ks=(1, 2)) == {
        "top1": pytest.approx(100 / 3),
        "top2": pytest.approx(200 / 3),
    }


def test_separable_beats_random():
    g = torch.Generator().manual_seed(1)
    centres = torch.randn(5, 16, generator=g) * 3
    y_train, y_test = torch.randint(0, 5, (200,), generator=g), torch.randint(0, 5, (100,), generator=g)
    x_train = centres[y_train] + torch.randn(200, 16, generator=g)
    x_test = centres[y_test] + torch.randn(100, 16, generator=g)
    good = probe_metrics(x_train, y_train, x_test, y_test, 5)
    assert good["knn"]["top1"] > 90 and good["linear"]["top1"] > 90
    noise = probe_metrics(
        torch.randn(200, 16, generator=g), y_train, torch.randn(100, 16, generator=g), y_test, 5
    )
    assert noise["knn"]["top1"] < 40 and noise["linear"]["top1"] < 40
    logits = linear_probe_scores(x_train, y_train, x_test, 5)
    assert logits.shape == (100, 5)
