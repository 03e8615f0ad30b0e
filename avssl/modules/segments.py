"""Unsupervised segmentations of an image, as label maps (H, W) with labels 0 … n − 1 ordered by area
(0 the largest), at most `max_segments` of them: what CYBORGS grounds its mask-dependent contrastive loss
in (Wang, Zhao & Gao, "CYBORGS: Contrastively Bootstrapping Object Representations by Grounding in
Segmentation", ECCV 2022).

* `superpixels` — the starting masks: Felzenszwalb & Huttenlocher's graph-based segmentation ("Efficient
  Graph-Based Image Segmentation", IJCV 2004; scikit-image's implementation), as DetCon's FH masks
  (Hénaff et al., "Efficient Visual Pretraining with Contrastive Detection", ICCV 2021).
* `kmeans_segments` — the bootstrapped masks: k-means (Lloyd, 20 iterations as the release's faiss call)
  over one image's L2-normalised dense features, deterministic for a given seed (k-means++ seeding drawn
  from a seeded generator); the centroids then label every pixel of the bilinearly upsampled features (the
  release labels the feature cells and zooms them with nearest neighbours: ours gives smoother borders at
  our low feature resolution).
* `snap_to_regions` — ours, not the paper's: the bootstrapped clusters voted within each superpixel, so the
  masks keep the superpixels' borders and the features decide which superpixels belong together.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def compact_labels(labels: Tensor, max_segments: int) -> Tensor:
    """Any integer label map (H, W) → labels 0 … n − 1 by decreasing area (ties: the smaller original
    label first); segments beyond the `max_segments` − 1 largest share the last label."""
    values, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    order = sorted(range(len(values)), key=lambda k: (-int(counts[k]), int(values[k])))
    rank = torch.empty(len(values), dtype=torch.long)
    rank[torch.tensor(order, dtype=torch.long)] = torch.arange(len(values))
    return rank.clamp_max(max_segments - 1)[inverse].to(torch.uint8)


def superpixels(
    image: Tensor, max_segments: int = 16, scale: float = 100.0, sigma: float = 0.8, min_size: int = 20
) -> Tensor:
    """(H, W, 3) uint8 image → (H, W) uint8 labels of Felzenszwalb–Huttenlocher superpixels (`scale`,
    `sigma`, `min_size` as scikit-image's), compacted (`compact_labels`)."""
    from skimage.segmentation import felzenszwalb

    labels = felzenszwalb(np.asarray(image), scale=scale, sigma=sigma, min_size=min_size)
    return compact_labels(torch.from_numpy(labels.astype(np.int64)), max_segments)


def _kmeans_pp(points: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeding: (N, C) points → (k, C) initial centroids."""
    first = int(torch.randint(len(points), (1,), generator=generator))
    centroids = [points[first]]
    for _ in range(1, k):
        d2 = torch.cdist(points, torch.stack(centroids)).min(1).values.square()
        if float(d2.sum()) <= 0:
            centroids.append(points[int(torch.randint(len(points), (1,), generator=generator))])
            continue
        centroids.append(points[int(torch.multinomial(d2 / d2.sum(), 1, generator=generator))])
    return torch.stack(centroids)


def kmeans(points: Tensor, k: int, iterations: int = 20, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means of (N, C) points into min(k, N) clusters → (centroids (k, C), assignments (N,)),
    the same for the same seed; an emptied cluster keeps its centroid."""
    points = points.double()
    k = min(k, len(points))
    generator = torch.Generator().manual_seed(seed)
    centroids = _kmeans_pp(points, k, generator)
    assign = torch.cdist(points, centroids).argmin(1)
    for _ in range(iterations):
        onehot = F.one_hot(assign, k).double()
        counts = onehot.sum(0)
        sums = onehot.T @ points
        centroids = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centroids)
        new = torch.cdist(points, centroids).argmin(1)
        if torch.equal(new, assign):
            break
        assign = new
    return centroids.float(), assign


@torch.no_grad()
def kmeans_segments(
    features: Tensor, size: tuple[int, int], k: int, max_segments: int = 16, seed: int = 0
) -> Tensor:
    """One image's dense features (C, h, w) → (H, W) = `size` uint8 labels: k-means of the L2-normalised
    feature cells into `k` clusters, every pixel labelled by the nearest centroid of the bilinearly
    upsampled, normalised features, compacted (`compact_labels`)."""
    cells = F.normalize(features.flatten(1).T.float(), dim=1)
    centroids, _ = kmeans(cells, k, seed=seed)
    up = F.interpolate(features[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    pixels = F.normalize(up.flatten(1).T, dim=1)
    labels = (pixels @ centroids.T).argmax(1).reshape(size)
    return compact_labels(labels, max_segments)


def snap_to_regions(labels: Tensor, regions: Tensor, max_segments: int = 16) -> Tensor:
    """Every region of `regions` (H, W) (e.g. superpixels) takes the label most of its pixels have in
    `labels` (H, W) (ties: the smaller label), compacted (`compact_labels`): clusters with the regions'
    borders."""
    lab, reg = labels.long().flatten(), regions.long().flatten()
    n_lab, n_reg = int(lab.max()) + 1, int(reg.max()) + 1
    votes = torch.bincount(reg * n_lab + lab, minlength=n_reg * n_lab).reshape(n_reg, n_lab)
    return compact_labels(votes.argmax(1)[reg].reshape(labels.shape), max_segments)
