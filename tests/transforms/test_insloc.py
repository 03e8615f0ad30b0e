"""InsLoc's instance views (`avssl.transforms.insloc`): crop percentage, IoU constraint and object prior of
the crops; the pasted pixels, box and alpha coherent under plain pasting, elastic deformation, texture
flattening and Poisson blending; the query box jitter."""

from __future__ import annotations

import itertools

import pytest
import torch

from avssl.transforms.functional.appearance import denormalize, renormalize
from avssl.transforms.insloc import (
    InsLocConfig,
    box_iou,
    crop_pair,
    elastic_warp,
    flatten_texture,
    instance_views,
    jitter_boxes,
    poisson_paste,
    sample_crop,
)


def _naive_iou(a, b) -> float:
    """IoU by counting pixels of two integer boxes."""
    grid = torch.zeros(2, 80, 80, dtype=torch.bool)
    for k, (x0, y0, x1, y1) in enumerate((a.tolist(), b.tolist())):
        grid[k, int(y0) : int(y1), int(x0) : int(x1)] = True
    return float((grid[0] & grid[1]).sum() / (grid[0] | grid[1]).sum())


def test_box_iou_against_pixel_counts() -> None:
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        a, b = (sample_crop(64, 48, [0.05, 0.9], [0.5, 2.0], generator=g) for _ in range(2))
        assert float(box_iou(a, b)) == pytest.approx(_naive_iou(a, b), abs=1e-6)


def test_crops_respect_the_crop_percentage_and_the_iou_constraint() -> None:
    g = torch.Generator().manual_seed(1)
    cfg = InsLocConfig(crop_scale=[0.3, 0.6], min_iou=0.4, max_iou=0.7, tries=200)
    for _ in range(40):
        first, second = crop_pair(64, 64, cfg, generator=g)
        for box in (first, second):
            area = float((box[2] - box[0]) * (box[3] - box[1])) / 64**2
            assert 0.3 - 0.04 <= area <= 0.6 + 0.04  # integer sides round the area
            assert box[0] >= 0 and box[1] >= 0 and box[2] <= 64 and box[3] <= 64
        assert 0.4 <= _naive_iou(first, second) <= 0.7
    # no constraint: the IoUs spread well outside that interval
    free = [
        float(box_iou(*crop_pair(64, 64, InsLocConfig(crop_scale=[0.3, 0.6]), generator=g)))
        for _ in range(60)
    ]
    assert min(free) < 0.3 and max(free) > 0.75


def test_the_saliency_prior_puts_the_object_in_every_crop() -> None:
    prior = torch.zeros(64, 64)
    prior[50:54, 6:10] = 1.0  # a small object near a corner
    g = torch.Generator().manual_seed(2)
    hits_prior = hits_free = 0
    for _ in range(50):
        for box, counter in (
            (sample_crop(64, 64, [0.1, 0.3], [0.75, 1.33], prior, g), "p"),
            (sample_crop(64, 64, [0.1, 0.3], [0.75, 1.33], None, g), "f"),
        ):
            inside = box[0] <= 8 < box[2] and box[1] <= 52 < box[3]
            if counter == "p":
                hits_prior += inside
            else:
                hits_free += inside
    assert hits_prior == 50 and hits_free < 25


def _flat_batch(colours: torch.Tensor, size: int = 48) -> torch.Tensor:
    """Normalised images, each one constant colour (B, 3, size, size)."""
    return renormalize(colours[:, :, None, None].expand(-1, -1, size, size).contiguous())


@pytest.mark.parametrize("elastic", [0.0, 1.0])
def test_pasted_pixels_box_and_alpha_agree(elastic) -> None:
    colours = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9], [0.9, 0.9, 0.1]])
    images = [_flat_batch(colours), _flat_batch(colours)]
    cfg = InsLocConfig(enabled=True, elastic=elastic, elastic_alpha=0.15)
    views, boxes, alphas = instance_views(images, cfg, generator=torch.Generator().manual_seed(3))
    for k, i in itertools.product(range(2), range(4)):
        pixels = denormalize(views[k][i : i + 1])[0]
        alpha = alphas[k][i]
        ys, xs = torch.nonzero(alpha, as_tuple=True)
        assert boxes[k][i].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        inside = pixels[:, alpha]
        assert torch.allclose(inside, colours[i][:, None].expand_as(inside), atol=2 / 255)
        outside = pixels[:, ~alpha]
        donor = [c for c in range(4) if torch.allclose(outside[:, 0], colours[c], atol=2 / 255)]
        assert donor and donor[0] != i  # the background is another image's
        assert torch.allclose(outside, colours[donor[0]][:, None].expand_as(outside), atol=2 / 255)
        if elastic:
            x0, y0, x1, y1 = (int(v) for v in boxes[k][i])
            assert not bool(alpha[y0:y1, x0:x1].all())  # the warp bent the rectangle's edges


def test_elastic_warp_moves_pixels_and_alpha_together() -> None:
    pixels = torch.zeros(3, 40, 30)
    pixels[:, 8:32, 6:24] = 1.0
    alpha = pixels[0] > 0.5
    g = torch.Generator().manual_seed(4)
    warped, warped_alpha = elastic_warp(pixels, alpha, amplitude=4.0, sigma=4.0, generator=g)
    assert torch.equal(warped[0] > 0.5, warped_alpha)
    assert not torch.equal(warped_alpha, alpha)  # something moved
    assert abs(int(warped_alpha.sum()) - int(alpha.sum())) < 0.25 * int(alpha.sum())


def _texture(x: torch.Tensor) -> float:
    """Mean |4-neighbour Laplacian|: the energy of fine texture."""
    lap = 4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:]
    return float(lap.abs().mean())


def test_texture_flattening_removes_weak_texture_and_keeps_edges() -> None:
    g = torch.Generator().manual_seed(5)
    pixels = torch.full((3, 48, 48), 0.3)
    pixels[:, :, 24:] = 0.8  # one strong edge
    texture = (torch.rand(1, 48, 48, generator=g) - 0.5) * 0.04  # weak texture (±5 grey levels)
    pixels = (pixels + texture).clamp(0, 1)
    flat = flatten_texture(pixels, torch.ones(48, 48, dtype=torch.bool))
    for cols in (slice(4, 18), slice(30, 44)):  # away from the edge, on both sides
        assert _texture(flat[:, 10:38, cols]) < 0.25 * _texture(pixels[:, 10:38, cols])
    assert float(flat[:, :, 30:].mean() - flat[:, :, :18].mean()) > 0.3


def test_poisson_paste_keeps_the_canvas_outside_and_the_instance_gradients_inside() -> None:
    canvas = torch.linspace(0.2, 0.6, 64).view(1, 1, 64).expand(3, 48, 64).clone()
    instance = torch.full((3, 12, 16), 0.9)  # far brighter than the canvas: pasted, a step edge
    instance[:, 5:7, 7:9] = 1.0  # a dot: its gradients must land where the paste puts it
    alpha = torch.ones(12, 16, dtype=torch.bool)
    out = poisson_paste(instance, alpha, canvas, x0=30, y0=20)
    region = torch.zeros(48, 64, dtype=torch.bool)
    region[20:32, 30:46] = True
    assert torch.equal(out[:, ~region], canvas[:, ~region])
    lift = (out - canvas)[0]
    y, x = divmod(int(lift.argmax()), 64)
    assert (y, x) in {(25, 37), (25, 38), (26, 37), (26, 38)}
    # away from the dot the clone follows the canvas (the instance is flat): no step at the border
    assert float((out - canvas)[:, 21:24, 31:35].abs().max()) < 0.05


def test_poisson_views_box_and_alpha_agree() -> None:
    g = torch.Generator().manual_seed(6)
    images = [renormalize(torch.rand(3, 3, 40, 40, generator=g)) for _ in range(2)]
    cfg = InsLocConfig(enabled=True, blend="poisson", elastic=1.0, texture_flatten=1.0)
    views, boxes, alphas = instance_views(images, cfg, generator=torch.Generator().manual_seed(7))
    for k in range(2):
        assert views[k].shape == images[k].shape and torch.isfinite(views[k]).all()
        for i in range(3):
            ys, xs = torch.nonzero(alphas[k][i], as_tuple=True)
            assert boxes[k][i].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_views_are_reproducible_and_checked() -> None:
    images = [renormalize(torch.rand(4, 3, 32, 32)) for _ in range(2)]
    cfg = InsLocConfig(enabled=True)
    a = instance_views(images, cfg, generator=torch.Generator().manual_seed(8))
    b = instance_views(images, cfg, generator=torch.Generator().manual_seed(8))
    assert all(torch.equal(x, y) for x, y in zip(a[0] + a[1], b[0] + b[1]))
    with pytest.raises(ValueError, match="batch needs"):
        instance_views([x[:1] for x in images], cfg)
    with pytest.raises(ValueError, match="data.masks"):
        instance_views(images, InsLocConfig(enabled=True, saliency_prior=True))
    with pytest.raises(ValueError, match="blend"):
        InsLocConfig(blend="alpha")
    with pytest.raises(ValueError, match="min_iou"):
        InsLocConfig(min_iou=0.8, max_iou=0.5)


def test_box_jitter_stays_bounded_and_inside() -> None:
    boxes = torch.tensor([[10.0, 10.0, 30.0, 20.0], [0.0, 0.0, 4.0, 4.0], [50.0, 40.0, 64.0, 48.0]])
    g = torch.Generator().manual_seed(9)
    for _ in range(20):
        out = jitter_boxes(boxes, 0.2, 48, 64, g)
        size = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, 1)
        assert bool(((out - boxes).abs() <= 0.2 * size + 1e-5).all())
        assert bool((out[:, 2] > out[:, 0]).all() and (out[:, 3] > out[:, 1]).all())
        assert bool((out[:, [0, 2]] <= 64).all() and (out[:, [1, 3]] <= 48).all() and (out >= 0).all())
    assert torch.equal(jitter_boxes(boxes, 0.0, 48, 64), boxes)


def test_data_workers_start_after_insloc_views_in_the_same_process() -> None:
    """InsLoc's OpenCV operations run in the training process; DataLoader workers forked afterwards (a
    second or resumed run, new workers) must start: with OpenCV's thread pool started in the parent, the
    worker's `cv2.setNumThreads` waited forever (`avssl.transforms.functional.opencv`)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import torch
        from torch.utils.data import DataLoader
        from avssl.data.datasets.base import worker_init
        from avssl.transforms.insloc import InsLocConfig, instance_views
        x = torch.randn(32, 3, 64, 64)
        cfg = InsLocConfig(enabled=True, blend="poisson", texture_flatten=1.0, elastic=1.0)
        for _ in range(3):
            instance_views([x, x], cfg)
        for _ in range(2):
            loader = DataLoader(list(range(4)), batch_size=2, num_workers=1, worker_init_fn=worker_init)
            assert len(list(loader)) == 2
        print("workers ran")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "workers ran" in done.stdout, done.stderr
