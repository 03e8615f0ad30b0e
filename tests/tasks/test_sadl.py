"""SaDL-CD's task (`avssl.tasks.sadl`): point features sampled where the points are, the background swap,
the loss parts and the errors on a wrong batch."""

from __future__ import annotations

import pytest
import torch

from avssl.tasks.sadl import SaDL, SaDLConfig, sample_features, swap_backgrounds
from tests.tasks.test_registry_smoke import _semantic_points_batch


def _tiny(**kw) -> SaDL:
    torch.manual_seed(0)
    return SaDL(SaDLConfig(hidden_dim=32, embed_dim=16, predictor_hidden_dim=8, **kw))


def test_sample_features_reads_the_pixel_under_each_point_at_every_scale() -> None:
    """Image 16 × 16: pixel (x, y) of a level of stride s covers [s·x, s·(x + 1)); at its centre the sample
    is that pixel's feature; halfway between two centres, their mean."""
    fine = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    coarse = torch.arange(2 * 5 * 4 * 4, dtype=torch.float32).view(2, 5, 4, 4)
    for level, stride in ((fine, 2), (coarse, 4)):
        cells = torch.tensor([[[1, 2], [3, 0]], [[0, 0], [2, 3]]])
        points = (cells.float() + 0.5) * stride
        out = sample_features([level], points, (16, 16))
        for b in range(2):
            for j in range(2):
                x, y = cells[b, j].tolist()
                assert torch.equal(out[b, j], level[b, :, y, x])
    both = sample_features([fine, coarse], torch.tensor([[[4.0, 1.0]]]).repeat(2, 1, 1), (16, 16))
    assert both.shape == (2, 1, 8)
    assert torch.allclose(both[0, 0, :3], (fine[0, :, 0, 1] + fine[0, :, 0, 2]) / 2)


def test_swap_backgrounds_replaces_only_pixels_background_in_both_images() -> None:
    images = torch.stack([torch.full((3, 4, 4), float(i)) for i in range(3)])
    masks = torch.zeros(3, 4, 4)
    masks[0, 0, 0] = 1
    masks[1, 1, 1] = 1
    swapped, changed = swap_backgrounds(images, masks)
    assert changed.tolist() == [True, True, True]
    assert swapped[0, :, 0, 0].tolist() == [0.0] * 3  # its own foreground
    assert swapped[0, :, 1, 1].tolist() == [0.0] * 3  # the donor's (image 1) foreground: kept
    assert swapped[0, :, 2, 2].tolist() == [1.0] * 3  # background of both: the donor's
    assert swapped[2, :, 3, 3].tolist() == [0.0] * 3  # the last image takes the first's background
    assert not swap_backgrounds(images[:1], masks[:1])[1].any()  # a batch of one has no donor


def test_forward_logs_each_part_and_the_swap_is_optional() -> None:
    batch = _semantic_points_batch()
    out = _tiny()(batch)
    assert {"loss/pull", "loss/push", "loss/swap", "cos/fg_bg", "points/valid"} <= set(out.logs)
    parts = out.logs["loss/pull"] + out.logs["loss/push"] + 0.5 * out.logs["loss/swap"]
    assert float(out.loss) == pytest.approx(float(parts), rel=1e-5)
    plain = _tiny(swap_weight=0.0)(batch)
    assert "loss/swap" not in plain.logs


def test_invalid_points_do_not_count() -> None:
    batch = _semantic_points_batch()
    task = _tiny().eval()
    batch["point_valid"][0, 4:] = False
    before = task(batch).logs
    batch["points"][0, :, 4:] = torch.rand(2, 4, 2) * 32  # move the invalid points: nothing changes
    after = task(batch).logs
    for key in ("loss/pull", "loss/push", "loss/swap"):
        assert float(after[key]) == pytest.approx(float(before[key]), rel=1e-6)


def test_a_batch_without_points_is_a_clear_error() -> None:
    batch = _semantic_points_batch()
    del batch["points"]
    with pytest.raises(ValueError, match="aligned points"):
        _tiny()(batch)
    batch = _semantic_points_batch()
    del batch["views"][0]["mask"]
    with pytest.raises(ValueError, match="mask"):
        _tiny()(batch)
