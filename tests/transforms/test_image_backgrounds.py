"""Background augmentations of still images (Ryali et al.: BG_RM, BG_Random, BG_Swaps): plates keep the
background and fill the object from it, composites keep the foreground exactly, donors are never the image
itself, BG_Swaps' positive and query get different backgrounds and its hard negative shares the query's."""

from __future__ import annotations

import pytest
import torch

from avssl.transforms.image_backgrounds import (
    BackgroundAugConfig,
    augment_backgrounds,
    background_plates,
    composite,
)


def batch(n: int = 6, size: int = 16):
    g = torch.Generator().manual_seed(0)
    images = torch.randn(n, 3, size, size, generator=g)
    masks = torch.zeros(n, size, size, dtype=torch.uint8)
    for i in range(n):
        y, x = 2 + i % 5, 3 + (2 * i) % 6
        masks[i, y : y + 6, x : x + 5] = 1
    return images, masks


def test_plates_keep_the_background_and_fill_a_flat_one_exactly() -> None:
    images, masks = batch()
    plates = background_plates(images, masks)
    bg = masks[:, None].expand_as(images) == 0
    assert torch.equal(plates[bg], images[bg])
    flat = torch.ones(2, 3, 16, 16) * torch.tensor([0.5, -1.0, 2.0]).view(1, 3, 1, 1)
    flat[:, :, 4:9, 4:9] = 7.0  # an object on a flat background: filled with the background colour
    m = torch.zeros(2, 16, 16)
    m[:, 4:9, 4:9] = 1
    torch.testing.assert_close(
        background_plates(flat, m), torch.ones_like(flat) * torch.tensor([0.5, -1.0, 2.0]).view(1, 3, 1, 1)
    )
    # an image that is all foreground has no background: the normalised mean colour, 0
    assert torch.equal(background_plates(flat, torch.ones(2, 16, 16)), torch.zeros_like(flat))


def test_composite_is_exact() -> None:
    images, masks = batch()
    backgrounds = torch.randn_like(images)
    out = composite(images, masks, backgrounds)
    fg = masks[:, None].expand_as(images) > 0
    assert torch.equal(out[fg], images[fg]) and torch.equal(out[~fg], backgrounds[~fg])


def _donor_of(out: torch.Tensor, masks: torch.Tensor, plates: torch.Tensor, i: int) -> int:
    bg = masks[i] == 0
    hits = [j for j in range(len(plates)) if torch.equal(out[i][:, bg], plates[j][:, bg])]
    assert len(hits) == 1
    return hits[0]


def test_bg_random_puts_each_foreground_on_another_images_background() -> None:
    images, masks = batch()
    views = [images, images.flip(-1)]
    view_masks = [masks, masks.flip(-1)]
    torch.manual_seed(3)
    out, negatives, rows = augment_backgrounds(
        views, view_masks, BackgroundAugConfig(mode="bg_random", p=1.0)
    )
    assert negatives is None and rows is None
    for k in (0, 1):
        plates = background_plates(views[k], view_masks[k])
        fg = view_masks[k][:, None].expand_as(images) > 0
        assert torch.equal(out[k][fg], views[k][fg])
        assert all(_donor_of(out[k], view_masks[k], plates, i) != i for i in range(6))
    same, _, _ = augment_backgrounds(views, view_masks, BackgroundAugConfig(mode="bg_random", p=0.0))
    assert all(torch.equal(a, b) for a, b in zip(same, views))


def test_bg_swaps_positive_differs_and_hard_negative_shares_the_query_background() -> None:
    images, masks = batch()
    views, view_masks = [images, images.clone()], [masks, masks.clone()]
    torch.manual_seed(5)
    out, negatives, rows = augment_backgrounds(views, view_masks, BackgroundAugConfig(mode="bg_swaps", p=1.0))
    assert rows.all()
    plates = background_plates(images, masks)
    for i in range(6):
        first, second = _donor_of(out[0], masks, plates, i), _donor_of(out[1], masks, plates, i)
        assert first != i and second != i and first != second
    # the hard negative: some other image's foreground, pasted over the query's new image
    for i in range(6):
        donors = [
            j
            for j in range(6)
            if j != i and torch.equal(negatives[i][:, masks[j] > 0], images[j][:, masks[j] > 0])
        ]
        assert donors
        outside = masks[donors[0]] == 0
        assert torch.equal(negatives[i][:, outside], out[0][i][:, outside])


def test_bg_rm_zeroes_the_background() -> None:
    images, masks = batch()
    out, _, _ = augment_backgrounds(
        [images, images], [masks, masks], BackgroundAugConfig(mode="bg_rm", p=1.0)
    )
    for o in out:
        assert torch.equal(o, images * (masks[:, None] > 0))
    with pytest.raises(ValueError, match="mode"):
        BackgroundAugConfig(mode="swap")
