"""The background-robustness suite of still-image features: how much of a frozen representation's
accuracy comes from backgrounds.

Xiao, Engstrom, Ilyas & Madry, "Noise or Signal: The Role of Image Backgrounds in Object Recognition"
(ICLR 2021, the ImageNet-9 backgrounds challenge) build, from each test image and its foreground mask,
variants that keep the foreground and change the background:

* `original`   — the image as it is;
* `only_fg`    — the background removed (here 0 in normalised units: the dataset's mean colour);
* `mixed_same` — the foreground on the background of a random other test image of the *same* class;
* `mixed_rand` — … of a random other test image of any class;
* `mixed_next` — … of a random test image of the *next* class (c + 1 mod C).

A background is another image's *plate*: that image with its own foreground filled in from its background
(`avssl.transforms.image_backgrounds.background_plates`), so no second object is pasted in. The classifier
(the linear probe and kNN of `avssl.evaluation.probe`) is fit on the features of the *original* training
images and scored on each variant (top-1, percent). **BG-gap** = accuracy on mixed_same − accuracy on
mixed_rand: the accuracy a model owes to class-typical backgrounds (0 for a model that ignores them).
Donor images are drawn with a fixed `seed`, so a comparison of two models sees the same variants.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from avssl.evaluation.probe import knn_scores, linear_probe_scores, topk_accuracy
from avssl.transforms.image_backgrounds import background_plates, composite

VARIANTS = ("original", "only_fg", "mixed_same", "mixed_rand", "mixed_next")


def pick_one(candidates: list[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """One random element of each candidate index list."""
    return torch.stack([c[torch.randint(len(c), (1,), generator=generator)][0] for c in candidates])


def donors(labels: torch.Tensor, num_classes: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """{variant: (N,) index of the image whose background each image gets}: same class (another image when
    there is one), any other image, the next class (itself when that class has no image)."""
    g = torch.Generator().manual_seed(seed)
    n = labels.shape[0]
    idx = torch.arange(n)
    same, rand, nxt = [], [], []
    for i in range(n):
        c = int(labels[i])
        others = idx[(labels == c) & (idx != i)]
        same.append(others if len(others) else idx[i : i + 1])
        rand.append(idx[idx != i] if n > 1 else idx[i : i + 1])
        next_class = idx[labels == (c + 1) % num_classes]
        nxt.append(next_class if len(next_class) else idx[i : i + 1])
    return {"mixed_same": pick_one(same, g), "mixed_rand": pick_one(rand, g), "mixed_next": pick_one(nxt, g)}


def iter_variants(
    images: torch.Tensor,
    masks: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    seed: int = 0,
    chunk: int = 64,
) -> Iterator[tuple[str, torch.Tensor]]:
    """(variant, (n, C, H, W)) chunks of every variant in `VARIANTS` order, rows in image order: memory for
    the images, their plates and one chunk (not five copies of the set)."""
    plates = None
    choice = donors(labels, num_classes, seed)
    for name in VARIANTS:
        for start in range(0, images.shape[0], chunk):
            rows = slice(start, start + chunk)
            x, m = images[rows], masks[rows]
            if name == "original":
                yield name, x
            elif name == "only_fg":
                yield name, composite(x, m, torch.zeros_like(x))
            else:
                if plates is None:
                    plates = background_plates(images, masks)
                yield name, composite(x, m, plates[choice[name][rows]])


def background_variants(
    images: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor, num_classes: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Normalised images (N, C, H, W), foreground masks (N, H, W), labels (N,) → {variant: (N, C, H, W)}."""
    out: dict[str, list[torch.Tensor]] = {}
    for name, x in iter_variants(images, masks, labels, num_classes, seed, chunk=max(1, images.shape[0])):
        out.setdefault(name, []).append(x)
    return {name: torch.cat(parts) for name, parts in out.items()}


def robustness_scores(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    variants: dict[str, torch.Tensor],
    test_labels: torch.Tensor,
    num_classes: int,
) -> dict:
    """Features of the original training images and of each test variant → {"linear": {variant: top-1},
    "knn": {…}, "bg_gap": {"linear", "knn"}} (percent). One probe is fit and scores every variant."""
    names = list(variants)
    test = torch.cat([variants[n] for n in names])
    scores = {
        "linear": linear_probe_scores(train, train_labels, test, num_classes),
        "knn": knn_scores(train, train_labels, test, num_classes),
    }
    out: dict = {}
    n = test_labels.shape[0]
    for kind, s in scores.items():
        out[kind] = {
            name: topk_accuracy(s[i * n : (i + 1) * n], test_labels, (1,))["top1"]
            for i, name in enumerate(names)
        }
    if "mixed_same" in variants and "mixed_rand" in variants:
        out["bg_gap"] = {kind: out[kind]["mixed_same"] - out[kind]["mixed_rand"] for kind in scores}
    out["num_train"], out["num_test"] = int(train.shape[0]), n
    return out
