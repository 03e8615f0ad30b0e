"""Unsupervised segmentations (`avssl.modules.segments`): label compaction, superpixels, deterministic
k-means segments and the vote within regions."""

from __future__ import annotations

import torch

from avssl.modules.segments import compact_labels, kmeans, kmeans_segments, snap_to_regions, superpixels


def test_compact_labels_orders_by_area_and_caps() -> None:
    labels = torch.tensor([[7, 7, 7, 2], [2, 9, 9, 4]])
    assert compact_labels(labels, 16).tolist() == [[0, 0, 0, 1], [1, 2, 2, 3]]
    assert compact_labels(labels, 2).tolist() == [[0, 0, 0, 1], [1, 1, 1, 1]]


def _two_regions() -> torch.Tensor:
    image = torch.zeros(32, 32, 3, dtype=torch.uint8)
    image[:, :, 0] = 200
    image[8:24, 8:24] = torch.tensor([10, 220, 30], dtype=torch.uint8)  # a green square on red
    return image


def test_superpixels_find_a_flat_square() -> None:
    labels = superpixels(_two_regions(), 16, scale=100, sigma=0.0, min_size=10)  # no blur: 2 flat regions
    assert labels.dtype == torch.uint8 and labels.shape == (32, 32)
    assert len(labels.unique()) == 2 and int(labels[0, 0]) == 0  # the larger (background) first
    assert (labels[8:24, 8:24] == 1).all()


def test_kmeans_is_deterministic_and_separates_clusters() -> None:
    g = torch.Generator().manual_seed(0)
    points = torch.cat([torch.randn(20, 3, generator=g), torch.randn(20, 3, generator=g) + 10])
    c1, a1 = kmeans(points, 2, seed=4)
    c2, a2 = kmeans(points, 2, seed=4)
    assert torch.equal(a1, a2) and torch.equal(c1, c2)
    assert len(a1[:20].unique()) == 1 and len(a1[20:].unique()) == 1 and a1[0] != a1[-1]


def test_kmeans_segments_of_two_feature_regions() -> None:
    features = torch.zeros(4, 8, 8)
    features[0] = 1.0
    features[:, 2:6, 2:6] = 0
    features[1, 2:6, 2:6] = 1.0
    labels = kmeans_segments(features, (16, 16), k=2)
    assert labels.shape == (16, 16) and int(labels[0, 0]) == 0
    assert (labels[6:10, 6:10] == 1).all() and (labels[:2] == 0).all()


def test_snap_to_regions_takes_each_regions_majority() -> None:
    regions = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1]])
    labels = torch.tensor([[3, 3, 5, 3], [3, 5, 5, 5]])
    snapped = snap_to_regions(labels, regions)
    assert snapped[:, :2].unique().numel() == 1 and snapped[:, 2:].unique().numel() == 1
    assert snapped[0, 0] != snapped[0, 2]
