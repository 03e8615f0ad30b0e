"""Cross-modal retrieval (video→audio, audio→video) with the field's protocol, in bounded memory.

Protocol (as CAV-MAE and followers print it): cosine similarity between L2-normalised embeddings; item i's
true partner is item i of the other modality. The rank of the true pair is the number of candidates, the
true one included, whose score is ≥ the true score — ties count against the query (pessimistic), so a
constant embedding gets R@1 = 0, never 100. R@k = percentage of queries with rank ≤ k; MedR / MeanR =
median / mean rank (1-based).

Scores are computed block by block (queries × candidates, `chunk` rows each), so 200k items never need an
N×N matrix; they are computed in float64 and rounded to 1e-9 so that exact ties (duplicate embeddings) are
ties whatever the summation order of each block.

Non-finite embeddings are refused (`PredictionError` naming the source and the first bad row): a NaN
compares false with everything, so a NaN query would count no candidate ≥ its true score and get rank 0,
i.e. R@1 = 100 — a broken model would look perfect.
"""

from __future__ import annotations

import numpy as np
import torch

from avssl.evaluation.predictions import PredictionError

_TIE_GRID = 1e-9


def check_finite(embeddings: torch.Tensor, what: str, source: str) -> None:
    """Raise PredictionError naming `source` (the file or run the embeddings come from) if any entry of
    the (N, D) `embeddings` is NaN or infinite; `what` names them in the message (e.g. "audio")."""
    bad = ~torch.isfinite(embeddings).reshape(embeddings.shape[0], -1).all(1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()
        raise PredictionError(
            source,
            f"{int(rows.numel())} of {embeddings.shape[0]} {what} embeddings have non-finite values "
            f"(NaN or inf), the first at row {int(rows[0])}: retrieval needs finite embeddings",
        )


def _normalise(x: torch.Tensor) -> torch.Tensor:
    x = x.to(torch.float64)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _scores(q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return torch.round((q @ c.T) * (1.0 / _TIE_GRID))


def retrieval_ranks(
    queries: torch.Tensor, candidates: torch.Tensor, chunk: int = 2048, source: str = "embeddings"
) -> torch.Tensor:
    """1-based pessimistic rank of candidate i for query i, for every i; (N,) long. Memory O(chunk²).
    Non-finite embeddings raise PredictionError naming `source`."""
    if queries.shape != candidates.shape:
        raise ValueError(f"queries {tuple(queries.shape)} and candidates {tuple(candidates.shape)} differ")
    check_finite(queries, "query", source)
    check_finite(candidates, "candidate", source)
    q, c = _normalise(queries), _normalise(candidates)
    n = q.shape[0]
    ranks = torch.empty(n, dtype=torch.long)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        rows = q[start:stop]
        true = torch.round((rows * c[start:stop]).sum(1) * (1.0 / _TIE_GRID))  # (c,)
        count = torch.zeros(stop - start, dtype=torch.long)
        for c_start in range(0, n, chunk):
            block = _scores(rows, c[c_start : c_start + chunk])  # (c, c2)
            count += (block >= true[:, None]).sum(1)
        ranks[start:stop] = count
    return ranks


def rank_metrics(ranks: torch.Tensor | np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """R@k in percent, MedR and MeanR from 1-based ranks."""
    r = np.asarray(ranks, dtype=np.float64)
    out = {f"R@{k}": float(100.0 * np.mean(r <= k)) for k in ks}
    out["MedR"] = float(np.median(r))
    out["MeanR"] = float(np.mean(r))
    return out


def retrieval_ranks_both(
    video: torch.Tensor, audio: torch.Tensor, chunk: int = 2048, source: str = "embeddings"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(video→audio ranks, audio→video ranks) from ONE pass over the score blocks: block (i, j) =
    V_i A_jᵀ serves the rows of V_i (against their true scores) and, read by columns, the rows of A_j
    (cosine is symmetric, so the true score of pair k is the same in both directions). Non-finite
    embeddings raise PredictionError naming `source`."""
    if video.shape != audio.shape:
        raise ValueError(f"video {tuple(video.shape)} and audio {tuple(audio.shape)} differ")
    check_finite(video, "video", source)
    check_finite(audio, "audio", source)
    v, a = _normalise(video), _normalise(audio)
    n = v.shape[0]
    true = torch.round((v * a).sum(1) * (1.0 / _TIE_GRID))  # (N,)
    v2a = torch.zeros(n, dtype=torch.long)
    a2v = torch.zeros(n, dtype=torch.long)
    for i in range(0, n, chunk):
        for j in range(0, n, chunk):
            block = _scores(v[i : i + chunk], a[j : j + chunk])  # (c_i, c_j)
            v2a[i : i + chunk] += (block >= true[i : i + chunk, None]).sum(1)
            a2v[j : j + chunk] += (block >= true[None, j : j + chunk]).sum(0)
    return v2a, a2v


def retrieval_metrics(
    video: torch.Tensor, audio: torch.Tensor, chunk: int = 2048, source: str = "embeddings"
) -> dict:
    """The M.json of `avssl eval retrieval`: both directions and the number of items. `source` (the
    embeddings file or run directory) is named when the embeddings are not finite."""
    v2a, a2v = retrieval_ranks_both(video, audio, chunk, source)
    return {
        "video_to_audio": rank_metrics(v2a),
        "audio_to_video": rank_metrics(a2v),
        "num_items": int(video.shape[0]),
    }


def class_retrieval_ranks(
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    source: str = "embeddings",
) -> torch.Tensor:
    """Same-modality retrieval by class (the video-retrieval protocol of self-supervised video papers, e.g.
    UCF101 clip retrieval: held-out clips query the training clips by cosine similarity; a hit is a
    retrieved clip of the query's class). Returns each query's 1-based pessimistic rank of its first
    same-class gallery item: the number of gallery items scoring ≥ the best same-class score (ties count
    against the query); a query whose class is absent from the gallery gets rank len(gallery) + 1.
    Non-finite features raise PredictionError naming `source`."""
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"queries {tuple(queries.shape)} and gallery {tuple(gallery.shape)} differ in dimension"
        )
    check_finite(queries, "query", source)
    check_finite(gallery, "gallery", source)
    scores = _scores(_normalise(queries), _normalise(gallery))  # (Q, G)
    same = query_labels.view(-1, 1) == gallery_labels.view(1, -1)
    best = torch.where(same, scores, torch.full_like(scores, -torch.inf)).max(1).values
    ranks = (scores >= best[:, None]).sum(1)
    return torch.where(same.any(1), ranks, torch.full_like(ranks, gallery.shape[0] + 1))


def class_retrieval_metrics(
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    ks: tuple[int, ...] = (1, 5, 10),
) -> dict[str, float]:
    """R@k (percent of queries with a same-class item among the k nearest), MedR and MeanR."""
    return rank_metrics(class_retrieval_ranks(queries, query_labels, gallery, gallery_labels), ks)
