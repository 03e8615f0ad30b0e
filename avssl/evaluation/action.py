"""Action recognition with frozen video features: linear probe and kNN with the multi-clip test, and clip
retrieval by class — the evaluation protocols of the self-supervised video literature.

* Multi-clip test (e.g. Feichtenhofer et al., "A Large-Scale Study on Unsupervised Spatiotemporal
  Representation Learning", CVPR 2021; Qian et al., CVRL, CVPR 2021): every video gives `num_clips` clips at
  uniformly spaced starts (`avssl.data.sampling.clip_starts(..., "uniform")`), each centre-cropped by the
  evaluation transforms. The classifier is fit on the clips of the training videos (each clip labelled with
  its video's class); a test video's class probabilities are the mean of its clips' probabilities, and
  top-1 / top-5 are counted per video.
* Linear probe: `avssl.evaluation.probe.linear_probe_scores` (logistic regression), probabilities = softmax
  of its logits. kNN: `avssl.evaluation.probe.knn_scores` (k = 20, weights exp(cos / 0.07), Wu et al.
  2018), probabilities = the vote shares (scores divided by their sum).
* Video retrieval (Xu et al., "Self-supervised Spatiotemporal Learning via Video Clip Order Prediction",
  CVPR 2019, and followers): every clip of every test video queries all clips of the training videos by
  cosine similarity; R@k = percentage of test clips with a clip of their class among the k nearest
  (`avssl.evaluation.retrieval.class_retrieval_ranks`, ties counted against the query), k = 1, 5, 10, 20, 50.
* Background-swapped test (`avssl synth` writes `background_swapped/`: each test clip's moving object over
  another test clip's background; Choi et al., "Why Can't I Dance in the Mall?", NeurIPS 2019): the same
  probe scored on the swapped copy, and the drop in points from the normal test set.
* Background invariance (`background_invariance`): does a background-swapped test video (its own moving
  object over another video's background) still find its original among the test videos? Each video's
  feature is the mean of its clips' features; the swapped copy of video i queries the originals by cosine
  similarity, R@k / MedR / MeanR of original i (`retrieval_ranks`, ties counted against the query), and
  the similarity gap: mean cos(swapped i, original i) − mean cos(swapped i, original j ≠ i). An encoder
  that codes the moving object scores high; one that codes the background retrieves the video whose
  background the copy borrowed. The claim of FAME (Ding et al., "Motion-aware Contrastive Video
  Representation Learning via Foreground-background Merging", CVPR 2022): less background bias.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from avssl.data.datasets.base import ClipDataset
from avssl.data.loader import DataConfig, build_dataset
from avssl.data.sampling import clip_starts
from avssl.evaluation.embed import embed
from avssl.evaluation.probe import knn_scores, linear_probe_scores, topk_accuracy
from avssl.evaluation.retrieval import class_retrieval_ranks, rank_metrics, retrieval_ranks

Protocol = Literal["linear", "knn"]
PROTOCOLS: tuple[str, ...] = ("linear", "knn")
RETRIEVAL_KS = (1, 5, 10, 20, 50)
SWAPPED_DIR = "background_swapped"  # where `avssl synth` writes the swapped copy of the test split


# ------------------------------------------------------------------------------------------ pure metrics


def clip_probabilities(
    protocol: str, train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """(N_test, C) class probabilities of each test clip from a probe fit on the training clips."""
    if protocol == "linear":
        return linear_probe_scores(train, train_labels, test, num_classes).softmax(1)
    if protocol == "knn":
        scores = knn_scores(train, train_labels, test, num_classes)
        return scores / scores.sum(1, keepdim=True).clamp_min(1e-300)
    raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


def video_probabilities(clip_probs: torch.Tensor, num_clips: int) -> torch.Tensor:
    """(V·n, C) probabilities of n consecutive clips per video → (V, C), the mean over each video's clips."""
    if clip_probs.shape[0] % num_clips:
        raise ValueError(f"{clip_probs.shape[0]} clips are not {num_clips} per video")
    return clip_probs.reshape(-1, num_clips, clip_probs.shape[1]).mean(1)


def multiclip_accuracy(
    protocol: str,
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
    num_clips: int,
    num_classes: int,
) -> dict:
    """{"top1", "top5" (percent of test videos), "num_videos"}: `test` holds n = `num_clips` consecutive
    clip features per video, `test_labels` one label per video."""
    probs = video_probabilities(
        clip_probabilities(protocol, train, train_labels, test, num_classes), num_clips
    )
    return {**topk_accuracy(probs, test_labels), "num_videos": int(test_labels.shape[0])}


def video_retrieval_metrics(
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    ks: tuple[int, ...] = RETRIEVAL_KS,
) -> dict:
    """R@k (percent of test clips with a clip of their class among the k nearest training clips), MedR and
    MeanR of the first same-class clip, and the numbers of query and gallery clips."""
    ranks = class_retrieval_ranks(queries, query_labels, gallery, gallery_labels)
    return {**rank_metrics(ranks, ks), "num_queries": int(queries.shape[0]), "num_gallery": len(gallery)}


def background_invariance(test: ClipFeatures, swapped: ClipFeatures) -> dict:
    """{"R@1", "R@5", "R@10", "MedR", "MeanR", "similarity_gap", "num_videos"}: the swapped copy of each test
    video (mean clip feature) queries the original test videos; rank of its own original, and mean cos to
    its original minus mean cos to the other originals. The two must list the same videos in the same order
    (ValueError naming the first mismatch otherwise)."""
    if test.ids != swapped.ids or test.num_clips != swapped.num_clips:
        first = next((a, b) for a, b in zip(test.ids + [None], swapped.ids + [None]) if a != b)
        raise ValueError(
            f"background_invariance: the swapped copy must list the test videos in order with as many clips; "
            f"first difference {first}, clips {test.num_clips} vs {swapped.num_clips}"
        )
    dim = test.features.shape[1]
    queries = swapped.features.reshape(-1, test.num_clips, dim).mean(1).double()
    originals = test.features.reshape(-1, test.num_clips, dim).mean(1).double()
    n = originals.shape[0]
    if n < 2:
        raise ValueError(f"background_invariance needs at least 2 test videos, got {n}")
    cos = torch.nn.functional.normalize(queries, dim=1) @ torch.nn.functional.normalize(originals, dim=1).T
    own = cos.diagonal()
    others = (cos.sum(1) - own) / (n - 1)
    return {
        **rank_metrics(retrieval_ranks(queries, originals)),
        "similarity_gap": float((own - others).mean()),
        "num_videos": n,
    }


# ------------------------------------------------------------------------------------------ clip features


class MultiClipDataset(Dataset):
    """`num_clips` clips per video of an evaluation `ClipDataset`, video-major (item i·n + j is clip j of
    video i), at the uniformly spaced starts of `clip_starts(..., "uniform")`, through its transform."""

    def __init__(self, base: ClipDataset, num_clips: int) -> None:
        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        self.base, self.num_clips = base, num_clips
        self.items = base.items

    def __len__(self) -> int:
        return len(self.base) * self.num_clips

    def starts(self, video: int) -> list[float]:
        """The clip start times (s, in the video) of video `video`."""
        item = self.base.items[video]
        span = self.base.media_span(item)
        starts = clip_starts(span, self.base.spec.duration_s, "uniform", num_clips=self.num_clips)
        return [item.start_s + s for s in starts]

    def __getitem__(self, index: int) -> dict:
        video, clip = divmod(index, self.num_clips)
        sample = self.base.load(video, start=self.starts(video)[clip])
        sample["meta"]["clip"] = clip
        if self.base.transform is None:
            return sample
        return self.base.transform(sample, torch.Generator().manual_seed(0))  # eval transforms: no draws


@dataclasses.dataclass
class ClipFeatures:
    """Features (V·n, D) of n clips per video (video-major), one label per video (V,), the video ids."""

    features: torch.Tensor
    labels: torch.Tensor
    ids: list[str]
    num_clips: int

    @property
    def clip_labels(self) -> torch.Tensor:
        """(V·n,) every clip's video label."""
        return self.labels.repeat_interleave(self.num_clips)


def clip_features(
    task: torch.nn.Module,
    data: DataConfig,
    split: str | None,
    num_clips: int,
    batch_size: int = 16,
    num_workers: int = 0,
) -> ClipFeatures:
    """`task.embed(…, "video")` of `num_clips` clips per video of `split` of `data` (its eval transforms)."""
    base = build_dataset(dataclasses.replace(data, split=split), train=False, seed=0)
    if not base.items:
        raise FileNotFoundError(f"{data.root}: no videos in split {split!r} of layout {data.layout!r}")
    if any(item.label is None for item in base.items):
        raise FileNotFoundError(f"{data.root}: split {split!r} has unlabelled videos; the probe needs labels")
    emb = embed(task, MultiClipDataset(base, num_clips), batch_size, num_workers, modalities=["video"])
    labels = torch.tensor([item.label for item in base.items], dtype=torch.long)
    ids = [str(i) for i in np.asarray(emb["ids"])[::num_clips]]
    return ClipFeatures(torch.from_numpy(emb["video"]), labels, ids, num_clips)


def swapped_config(data: DataConfig) -> DataConfig:
    """The data config of the background-swapped copy of `data.root` (FileNotFoundError naming it)."""
    root = Path(data.root) / SWAPPED_DIR
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root}: no background-swapped copy (`avssl synth --layout ucf101|hmdb51|kinetics` writes one)"
        )
    return dataclasses.replace(data, root=str(root))


def probe_report(
    protocol: str, train: ClipFeatures, test: ClipFeatures, swapped: ClipFeatures | None, num_classes: int
) -> dict:
    """{"top1", "top5", "num_videos"} on the test set, plus "background_swapped" (the same on the swapped
    copy) and "drop" (test − swapped top-1 / top-5, points) when `swapped` is given."""
    args = (protocol, train.features, train.clip_labels)
    report = multiclip_accuracy(*args, test.features, test.labels, test.num_clips, num_classes)
    if swapped is not None:
        moved = multiclip_accuracy(*args, swapped.features, swapped.labels, swapped.num_clips, num_classes)
        report["background_swapped"] = moved
        report["drop"] = {k: report[k] - moved[k] for k in ("top1", "top5")}
    return report
