"""Retrieval metrics against a naive per-pair loop, with ties (pessimistic) and chunking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avssl.evaluation.retrieval import rank_metrics, retrieval_metrics, retrieval_ranks


def naive_ranks(q, c):
    """Rank of the true pair = #candidates (true included) with cosine >= the true cosine."""
    q, c = np.asarray(q, dtype=np.float64), np.asarray(c, dtype=np.float64)

    def cos(a, b):
        return math.fsum(a * b) / (math.sqrt(math.fsum(a * a)) * math.sqrt(math.fsum(b * b)))

    ranks = []
    for i in range(len(q)):
        true = round(cos(q[i], c[i]), 9)
        ranks.append(sum(1 for j in range(len(c)) if round(cos(q[i], c[j]), 9) >= true))
    return np.array(ranks)


def naive_metrics(ranks):
    return {
        "R@1": 100 * np.mean(ranks <= 1),
        "R@5": 100 * np.mean(ranks <= 5),
        "R@10": 100 * np.mean(ranks <= 10),
        "MedR": float(np.median(ranks)),
        "MeanR": float(np.mean(ranks)),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("chunk", [7, 64, 4096])
def test_ranks_match_naive_loop(seed, chunk):
    g = torch.Generator().manual_seed(seed)
    video = torch.randn(53, 6, generator=g)
    audio = video + 0.8 * torch.randn(53, 6, generator=g)
    ranks = retrieval_ranks(video, audio, chunk=chunk)
    np.testing.assert_array_equal(ranks.numpy(), naive_ranks(video.numpy(), audio.numpy()))
    assert rank_metrics(ranks) == pytest.approx(naive_metrics(ranks.numpy()))


def test_ties_count_against_the_query():
    constant = torch.ones(10, 4)
    m = retrieval_metrics(constant, constant, chunk=3)
    assert m["video_to_audio"]["R@1"] == 0.0 and m["video_to_audio"]["MedR"] == 10.0
    dup = torch.eye(4).repeat_interleave(2, 0)  # pairs of duplicates: each true pair ties with its twin
    ranks = retrieval_ranks(dup, dup, chunk=3)
    assert ranks.tolist() == [2] * 8
    np.testing.assert_array_equal(ranks.numpy(), naive_ranks(dup.numpy(), dup.numpy()))


def test_perfect_and_json_shape():
    x = torch.randn(30, 8)
    m = retrieval_metrics(x, x)
    assert m["num_items"] == 30
    for direction in ("video_to_audio", "audio_to_video"):
        assert m[direction] == {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0, "MedR": 1.0, "MeanR": 1.0}


def test_chance_level_for_random_embeddings():
    g = torch.Generator().manual_seed(5)
    m = retrieval_metrics(torch.randn(400, 16, generator=g), torch.randn(400, 16, generator=g), chunk=128)
    assert m["video_to_audio"]["R@10"] < 6 and 140 < m["video_to_audio"]["MedR"] < 260


@pytest.mark.parametrize("chunk", [5, 16, 1000])
def test_one_pass_both_directions_equals_each_direction(chunk):
    from avssl.evaluation.retrieval import retrieval_ranks_both

    g = torch.Generator().manual_seed(9)
    video = torch.randn(37, 6, generator=g)
    audio = video + torch.randn(37, 6, generator=g)
    audio[3] = audio[4]  # a tie
    v2a, a2v = retrieval_ranks_both(video, audio, chunk)
    np.testing.assert_array_equal(v2a.numpy(), naive_ranks(video.numpy(), audio.numpy()))
    np.testing.assert_array_equal(a2v.numpy(), naive_ranks(audio.numpy(), video.numpy()))


def _naive_class_rank(q, ql, gallery, gl):
    """Walk the gallery from the most similar down (ties: other classes first); rank of the first hit."""
    sims = [float(np.dot(q, g) / (np.linalg.norm(q) * np.linalg.norm(g))) for g in gallery]
    order = sorted(range(len(gallery)), key=lambda j: (-round(sims[j], 9), gl[j] == ql))
    for position, j in enumerate(order, start=1):
        if gl[j] == ql:
            return position
    return len(gallery) + 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_retrieval_matches_naive_walk(seed):
    from avssl.evaluation.retrieval import class_retrieval_metrics, class_retrieval_ranks

    g = torch.Generator().manual_seed(seed)
    gallery, queries = torch.randn(40, 6, generator=g), torch.randn(15, 6, generator=g)
    gallery[5] = gallery[4] * 2.0  # an exact tie between two gallery items of different classes
    queries[0] = gallery[4]
    gl, ql = (
        torch.randint(0, 4, (40,), generator=g),
        torch.randint(0, 5, (15,), generator=g),
    )  # class 4: absent
    gl[4], gl[5], ql[0] = 0, 1, 1  # query 0's class is the tied item 5: pessimistic rank 2
    ranks = class_retrieval_ranks(queries, ql, gallery, gl)
    naive = [
        _naive_class_rank(queries[i].numpy(), int(ql[i]), gallery.numpy(), gl.tolist()) for i in range(15)
    ]
    assert ranks.tolist() == naive and ranks[0] == 2
    metrics = class_retrieval_metrics(queries, ql, gallery, gl)
    assert metrics["R@1"] == pytest.approx(100 * np.mean(np.array(naive) <= 1))
    # a constant embedding never scores a hit at rank 1 unless every gallery item is of the query's class
    const = class_retrieval_ranks(torch.ones(3, 6), torch.tensor([0, 1, 2]), torch.ones(40, 6), gl)
    assert const.tolist() == [40, 40, 41 if not (gl == 2).any() else 40]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("side", ["video", "audio"])
def test_non_finite_embeddings_are_refused_not_scored(bad, side):
    """A NaN compares false with everything: unguarded, NaN queries get rank 0, i.e. R@1 = 100."""
    from avssl.evaluation.predictions import PredictionError
    from avssl.evaluation.retrieval import class_retrieval_ranks, retrieval_ranks_both

    g = torch.Generator().manual_seed(4)
    video, audio = torch.randn(12, 5, generator=g), torch.randn(12, 5, generator=g)
    (video if side == "video" else audio)[7, 2] = bad
    with pytest.raises(PredictionError, match=r"run_x/emb\.npz.*1 of 12 " + side + r".*non-finite.*row 7"):
        retrieval_metrics(video, audio, source="run_x/emb.npz")
    for call in (
        lambda: retrieval_ranks(video, audio),
        lambda: retrieval_ranks_both(video, audio, 5),
        lambda: class_retrieval_ranks(video, torch.zeros(12), audio, torch.zeros(12)),
    ):
        with pytest.raises(PredictionError, match="non-finite"):
            call()


def test_cli_eval_retrieval_names_the_file_of_nan_embeddings(tmp_path, capsys):
    from avssl.cli import main

    emb = tmp_path / "emb.npz"
    video = np.full((6, 4), np.nan, np.float32)
    np.savez(emb, video=video, audio=np.ones((6, 4), np.float32), ids=np.arange(6).astype(str))
    out = tmp_path / "M.json"
    assert main(["eval", "retrieval", "--embeddings", str(emb), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(emb) in err[0] and "6 of 6 video embeddings" in err[0]
    assert not out.exists()
