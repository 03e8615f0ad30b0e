"""Action-recognition evaluation against naive references written from the protocols: the multi-clip test
(per-clip probabilities averaged per video, top-k per video) with a kNN written as loops (Wu et al. 2018),
clip retrieval R@k (a clip of the query's class among the k nearest, ties against the query), and the
uniformly spaced clips of a real synthetic UCF101-layout set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipDataset, ClipSpec
from avssl.data.synthetic.action import ActionSynthSpec, write_action_synthetic
from avssl.evaluation.action import (
    ClipFeatures,
    MultiClipDataset,
    background_invariance,
    multiclip_accuracy,
    probe_report,
    video_probabilities,
    video_retrieval_metrics,
)
from avssl.evaluation.probe import linear_probe_scores


def _data(seed: int, videos: int = 9, clips: int = 3, dim: int = 6, classes: int = 4):
    g = torch.Generator().manual_seed(seed)
    train = torch.randn(30, dim, generator=g)
    train_labels = torch.randint(0, classes, (30,), generator=g)
    test = torch.randn(videos * clips, dim, generator=g)
    test_labels = torch.randint(0, classes, (videos,), generator=g)
    return train, train_labels, test, test_labels, clips, classes


def naive_knn_probabilities(train, train_labels, test, classes, k=20, tau=0.07) -> list[list[float]]:
    """Per test clip: the k most cosine-similar training clips vote exp(cos / τ) for their label; the
    votes divided by their sum."""
    out = []
    for x in test.double():
        sims = [float(x @ t / (x.norm() * t.norm())) for t in train.double()]
        nearest = sorted(range(len(sims)), key=lambda j: -sims[j])[:k]
        votes = [0.0] * classes
        for j in nearest:
            votes[int(train_labels[j])] += math.exp(sims[j] / tau)
        out.append([v / sum(votes) for v in votes])
    return out


def naive_video_topk(clip_probs, labels, clips: int, ks=(1, 5)) -> dict[str, float]:
    """Average each video's clip probabilities in a loop; a hit when the label is among the k largest."""
    hits = dict.fromkeys(ks, 0)
    for v, label in enumerate(labels.tolist()):
        rows = clip_probs[v * clips : (v + 1) * clips]
        mean = [sum(r[c] for r in rows) / clips for c in range(len(rows[0]))]
        order = sorted(range(len(mean)), key=lambda c: -mean[c])
        for k in ks:
            hits[k] += label in order[:k]
    return {f"top{k}": 100.0 * hits[k] / len(labels) for k in ks}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_knn_multiclip_accuracy_matches_loops(seed: int) -> None:
    train, train_labels, test, test_labels, clips, classes = _data(seed)
    got = multiclip_accuracy("knn", train, train_labels, test, test_labels, clips, classes)
    want = naive_video_topk(naive_knn_probabilities(train, train_labels, test, classes), test_labels, clips)
    assert got["top1"] == pytest.approx(want["top1"]) and got["top5"] == pytest.approx(want["top5"])
    assert got["num_videos"] == len(test_labels)


def test_linear_multiclip_accuracy_averages_softmax_per_video() -> None:
    train, train_labels, test, test_labels, clips, classes = _data(3)
    got = multiclip_accuracy("linear", train, train_labels, test, test_labels, clips, classes)
    probs = linear_probe_scores(train, train_labels, test, classes).softmax(1).tolist()
    want = naive_video_topk(probs, test_labels, clips, ks=(1, 5))
    assert got["top1"] == pytest.approx(want["top1"]) and got["top5"] == pytest.approx(want["top5"])


def test_a_video_is_right_when_its_clips_agree_on_average() -> None:
    # clip 0 says class 1 strongly, clips 1-2 say class 0 mildly: the mean picks class 1 (majority vote: 0)
    probs = torch.tensor([[0.0, 1.0], [0.6, 0.4], [0.6, 0.4]])
    assert video_probabilities(probs, 3).argmax(1).tolist() == [1]
    with pytest.raises(ValueError, match="per video"):
        video_probabilities(probs, 2)


def naive_class_retrieval(queries, query_labels, gallery, gallery_labels, ks) -> dict[str, float]:
    """Per query clip: rank = 1 + number of gallery clips scoring strictly above the best same-class
    clip, plus the other clips tied with it (pessimistic); R@k = percent with rank <= k."""
    ranks = []
    for q, lq in zip(queries.double(), query_labels.tolist()):
        scores = [round(float(q @ g / (q.norm() * g.norm())), 9) for g in gallery.double()]
        best = max(s for s, lg in zip(scores, gallery_labels.tolist()) if lg == lq)
        ranks.append(sum(s >= best for s in scores))
    return {f"R@{k}": 100.0 * sum(r <= k for r in ranks) / len(ranks) for k in ks}


@pytest.mark.parametrize("seed", [0, 1])
def test_video_retrieval_matches_loops(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    gallery, queries = torch.randn(80, 5, generator=g), torch.randn(12, 5, generator=g)
    gallery_labels, query_labels = (
        torch.randint(0, 6, (80,), generator=g),
        torch.randint(0, 6, (12,), generator=g),
    )
    ks = (1, 5, 10, 20, 50)
    got = video_retrieval_metrics(queries, query_labels, gallery, gallery_labels)
    want = naive_class_retrieval(queries, query_labels, gallery, gallery_labels, ks)
    for k in ks:
        assert got[f"R@{k}"] == pytest.approx(want[f"R@{k}"]), k
    assert got["num_queries"] == 12 and got["num_gallery"] == 80
    # a constant embedding ties every clip: the first same-class clip ranks last among the ties
    flat = video_retrieval_metrics(
        torch.ones(4, 3), torch.tensor([0, 1, 0, 1]), torch.ones(60, 3), torch.arange(60) % 2
    )
    assert flat["R@1"] == 0.0 and flat["R@50"] == 0.0


def test_probe_report_drop_is_test_minus_swapped() -> None:
    train, train_labels, test, test_labels, clips, classes = _data(4)
    swapped = test.flip(0)
    report = probe_report(
        "knn",
        ClipFeatures(train, train_labels, [str(i) for i in range(30)], 1),
        ClipFeatures(test, test_labels, [str(i) for i in range(9)], clips),
        ClipFeatures(swapped, test_labels, [str(i) for i in range(9)], clips),
        classes,
    )
    moved = multiclip_accuracy("knn", train, train_labels, swapped, test_labels, clips, classes)
    assert report["background_swapped"]["top1"] == pytest.approx(moved["top1"])
    assert report["drop"]["top1"] == pytest.approx(report["top1"] - moved["top1"])


def naive_background_invariance(test, swapped, clips: int) -> dict:
    """Loops: each swapped video's mean clip feature against every original's, by cosine; the rank of its
    own original counts every original at least as similar (ties against the query); the gap is its own
    cosine minus the mean of the others'."""
    videos = test.shape[0] // clips

    def mean(x, v):
        rows = x[v * clips : (v + 1) * clips].double()
        return sum(rows) / clips

    ranks, gaps = [], []
    for i in range(videos):
        q = mean(swapped, i)
        sims = [float(q @ mean(test, j) / (q.norm() * mean(test, j).norm())) for j in range(videos)]
        ranks.append(sum(s >= sims[i] - 1e-9 for s in sims))
        gaps.append(sims[i] - sum(s for j, s in enumerate(sims) if j != i) / (videos - 1))
    ranks.sort()
    return {
        "R@1": 100.0 * sum(r <= 1 for r in ranks) / videos,
        "R@5": 100.0 * sum(r <= 5 for r in ranks) / videos,
        "MeanR": sum(ranks) / videos,
        "similarity_gap": sum(gaps) / videos,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_background_invariance_matches_loops(seed: int) -> None:
    _, _, test, labels, clips, _ = _data(seed, videos=12)
    g = torch.Generator().manual_seed(seed + 100)
    swapped = test + 1.5 * torch.randn(test.shape, generator=g)  # the original plus a "background" change
    ids = [str(i) for i in range(12)]
    report = background_invariance(
        ClipFeatures(test, labels, ids, clips), ClipFeatures(swapped, labels, ids, clips)
    )
    naive = naive_background_invariance(test, swapped, clips)
    assert {k: report[k] for k in naive} == pytest.approx(naive)
    assert 0 < report["R@1"] < 100 and report["num_videos"] == 12  # the seeds give a mix of hits and misses


def test_background_invariance_identical_copy_finds_itself_and_mismatch_is_named() -> None:
    _, _, test, labels, clips, _ = _data(5)
    ids = [str(i) for i in range(9)]
    same = background_invariance(
        ClipFeatures(test, labels, ids, clips), ClipFeatures(test, labels, ids, clips)
    )
    assert same["R@1"] == 100.0 and same["similarity_gap"] > 0
    with pytest.raises(ValueError, match="first difference"):
        background_invariance(
            ClipFeatures(test, labels, ids, clips), ClipFeatures(test, labels, ids[::-1], clips)
        )


def test_multiclip_dataset_decodes_uniformly_spaced_clips(tmp_path) -> None:
    spec = ActionSynthSpec(num_classes=2, clips_per_class=4, size=32, frames=16, fps=8.0)
    root = write_action_synthetic("ucf101", tmp_path / "ucf", spec)
    index = load_index("ucf101", root, "test")
    base = ClipDataset(
        index.items, ClipSpec(duration_s=0.5, fps=8.0, size=(32, 32), sampler="centre"), mode="eval"
    )
    clips = MultiClipDataset(base, 4)
    assert len(clips) == 4 * len(index.items)
    duration = 16 / 8.0
    want = np.linspace(0.0, duration - 0.5, 4)
    for j in range(4):
        sample = clips[j]  # video 0, clip j
        assert sample["meta"]["clip"] == j and sample["index"] == 0
        assert sample["meta"]["start_s"] == pytest.approx(want[j], abs=1.0 / 8.0)
        assert sample["video"].shape == (4, 3, 32, 32) and sample["label"] == index.items[0].label
    first, last = clips[0]["video"].float(), clips[3]["video"].float()
    assert (first - last).abs().mean() > 1.0  # the object moved between the first and the last clip


def test_finetune_accuracy_averages_softmax_per_video() -> None:
    from avssl.evaluation.finetune import finetune_accuracy

    g = torch.Generator().manual_seed(5)
    logits, labels = torch.randn(12, 7, generator=g), torch.randint(0, 7, (4,), generator=g)
    got = finetune_accuracy(logits, labels, 3)
    want = naive_video_topk(logits.softmax(1).tolist(), labels, 3)
    assert got["top1"] == pytest.approx(want["top1"]) and got["top5"] == pytest.approx(want["top5"])
