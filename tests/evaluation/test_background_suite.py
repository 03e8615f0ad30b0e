"""The background-robustness suite (Xiao et al., ImageNet-9 variants): donors follow the variant's rule,
the variants keep each foreground exactly, and the BG-gap tells a background reader from a foreground
reader (two hand-made 'models' on images whose object colour and background colour both give the class)."""

from __future__ import annotations

import torch

from avssl.evaluation.background import VARIANTS, background_variants, donors, robustness_scores


def trap_images(n_per_class: int = 12, classes: int = 4, seed: int = 0):
    """Object colour (channel 0, centre) and background colour (channel 1, border) both encode the class."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    n = labels.shape[0]
    images = 0.05 * torch.randn(n, 3, 8, 8, generator=g)
    masks = torch.zeros(n, 8, 8, dtype=torch.uint8)
    masks[:, 2:6, 2:6] = 1
    images[:, 0] += torch.where(masks > 0, labels.view(-1, 1, 1).float(), torch.zeros(()))
    images[:, 1] += torch.where(masks == 0, labels.view(-1, 1, 1).float(), torch.zeros(()))
    return images, masks, labels


def one_hot_feature(values: torch.Tensor, classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(values.round().clamp(0, classes - 1).long(), classes).float() + 0.01


def test_donors_follow_their_rule() -> None:
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3])
    d = donors(labels, 4, seed=1)
    idx = torch.arange(7)
    assert ((labels[d["mixed_same"]] == labels) & (d["mixed_same"] != idx))[:6].all()
    assert d["mixed_same"][6] == 6  # the only image of its class keeps its own background
    assert (d["mixed_rand"] != idx).all()
    assert (labels[d["mixed_next"]] == (labels + 1) % 4).all()
    assert torch.equal(d["mixed_rand"], donors(labels, 4, seed=1)["mixed_rand"])  # seeded


def test_variants_keep_the_foreground() -> None:
    images, masks, labels = trap_images()
    variants = background_variants(images, masks, labels, 4)
    assert list(variants) == list(VARIANTS)
    fg = masks[:, None].expand_as(images) > 0
    for v in variants.values():
        assert torch.equal(v[fg], images[fg])
    assert (variants["only_fg"][~fg] == 0).all()


def test_bg_gap_separates_a_background_reader_from_a_foreground_reader() -> None:
    train, train_masks, train_labels = trap_images(seed=0)
    test, test_masks, test_labels = trap_images(seed=1)
    variants = background_variants(test, test_masks, test_labels, 4, seed=2)

    def foreground_reader(x):  # mean of channel 0 over the centre
        return one_hot_feature(x[:, 0, 2:6, 2:6].mean((1, 2)), 4)

    def background_reader(x):  # mean of channel 1 over the top rows (background)
        return one_hot_feature(x[:, 1, :2, :].mean((1, 2)), 4)

    fg = robustness_scores(
        foreground_reader(train),
        train_labels,
        {k: foreground_reader(v) for k, v in variants.items()},
        test_labels,
        4,
    )
    bg = robustness_scores(
        background_reader(train),
        train_labels,
        {k: background_reader(v) for k, v in variants.items()},
        test_labels,
        4,
    )
    for kind in ("linear", "knn"):
        assert fg[kind]["original"] == fg[kind]["mixed_rand"] == 100.0 and fg["bg_gap"][kind] == 0.0
        assert bg[kind]["original"] == bg[kind]["mixed_same"] == 100.0
        assert bg[kind]["mixed_next"] == 0.0  # always the next class's label
        assert bg["bg_gap"][kind] == bg[kind]["mixed_same"] - bg[kind]["mixed_rand"] > 50.0


def test_chunked_variants_equal_the_whole_set() -> None:
    from avssl.evaluation.background import iter_variants

    images, masks, labels = trap_images()
    whole = background_variants(images, masks, labels, 4, seed=3)
    parts: dict = {}
    for name, x in iter_variants(images, masks, labels, 4, seed=3, chunk=5):
        assert x.shape[0] <= 5
        parts.setdefault(name, []).append(x)
    for name in VARIANTS:
        assert torch.equal(torch.cat(parts[name]), whole[name])
