"""SaDL-CD's point sampling (`avssl.data.datasets.semantic_points`) on known masks: class balance, every point
inside both views' crops and on its class, the two views' points at the same image location (checked on an
image whose colours encode the pixel coordinates), invalid classes flagged; the items of a bi-temporal tree,
mask files read and checked, bad input named or counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import DATA_ERRORS, BadItem
from avssl.data.datasets.semantic_points import (
    SemanticPointsDataset,
    ViewGeometry,
    overlap,
    random_geometry,
    read_mask,
    sample_points,
    semantic_items,
)

S = 64


def _identity(sample: dict, generator) -> dict:
    return {"video": sample["video"].permute(1, 0, 2, 3).float()}  # (1, 3, S, S) → (3, 1, S, S)


def _coordinate_image(size: int = S) -> np.ndarray:
    """R = 4x, G = 4y (+2: pixel centres), B = 0: the pixel's coordinates from its colour."""
    ys, xs = np.mgrid[0:size, 0:size]
    return np.stack([4 * xs + 2, 4 * ys + 2, np.zeros_like(xs)], -1).astype(np.uint8)


def _write_tree(root, n: int = 3, mask_size: int = S, drop_b: str | None = None):
    for date in "AB":
        for i in range(n):
            name = f"p{i}.png"
            if date == "B" and name == drop_b:
                continue
            (root / "train" / date).mkdir(parents=True, exist_ok=True)
            (root / "train" / "semantic" / date).mkdir(parents=True, exist_ok=True)
            Image.fromarray(_coordinate_image()).save(root / "train" / date / name)
            mask = np.zeros((mask_size, mask_size), np.uint8)
            mask[:, mask_size // 2 :] = 255  # right half foreground
            Image.fromarray(mask).save(root / "train" / "semantic" / date / name)
    return root


def test_sample_points_are_class_balanced_inside_the_box_and_on_their_class() -> None:
    mask = torch.zeros(S, S, dtype=torch.long)
    mask[10:30, 40:60] = 1
    box = (20, 5, 50, 60)
    points, labels, valid = sample_points(mask, box, 2, 16, torch.Generator().manual_seed(0))
    assert points.shape == (32, 2) and labels.tolist() == [0] * 16 + [1] * 16 and valid.all()
    px, py = points[:, 0].floor().long(), points[:, 1].floor().long()
    assert ((px >= 20) & (px < 50) & (py >= 5) & (py < 60)).all()
    assert (mask[py, px] == labels).all()
    assert torch.allclose(points - points.floor(), torch.full_like(points, 0.5))  # pixel centres


def test_a_class_missing_from_the_overlap_is_flagged_invalid() -> None:
    mask = torch.zeros(S, S, dtype=torch.long)
    mask[0:5, 0:5] = 1  # foreground outside the box
    points, labels, valid = sample_points(mask, (20, 20, 40, 40), 2, 8, torch.Generator().manual_seed(1))
    assert valid[:8].all() and not valid[8:].any()
    assert ((points >= 20) & (points < 40)).all()


def test_view_geometry_maps_points_as_the_image_is_warped() -> None:
    geo = ViewGeometry(x0=8, y0=4, w=48, h=56, hflip=True, vflip=False, size=S)
    image = torch.from_numpy(_coordinate_image()).permute(2, 0, 1)
    view = geo.apply(image).float()
    for x, y in [(20.5, 30.5), (50.5, 10.5), (9.5, 58.5)]:
        vx, vy = geo.to_view(torch.tensor([[x, y]]))[0].tolist()
        colour = view[:, int(vy), int(vx)]
        assert float(colour[0] - 2) / 4 == pytest.approx(x - 0.5, abs=1.0)
        assert float(colour[1] - 2) / 4 == pytest.approx(y - 0.5, abs=1.0)


def test_random_geometry_stays_inside_the_image_and_two_views_overlap() -> None:
    g = torch.Generator().manual_seed(2)
    for _ in range(50):
        a, b = (random_geometry(48, 64, S, (0.8, 1.0), g) for _ in range(2))
        for geo in (a, b):
            assert 0 <= geo.x0 and geo.x0 + geo.w <= 64 and 0 <= geo.y0 and geo.y0 + geo.h <= 48
            assert 0.75 * 48 * 64 <= geo.w * geo.h <= 48 * 64
        x0, y0, x1, y1 = overlap(a, b)
        assert x1 > x0 and y1 > y0


def test_dataset_points_are_aligned_between_views_balanced_and_on_the_mask(tmp_path) -> None:
    root = _write_tree(tmp_path)
    items = semantic_items(root, "train", ["A", "B"], {"A": "semantic/A", "B": "semantic/B"})
    assert len(items) == 6 and items[3][0].endswith("B/p0.png") and items[3][1].endswith("semantic/B/p0.png")
    ds = SemanticPointsDataset(items, _identity, S, points_per_class=16, seed=3)
    agree = total = 0
    for index in range(len(ds)):
        sample = ds[index]
        assert sample["point_class"].tolist() == [0] * 16 + [1] * 16 and sample["point_valid"].all()
        decoded = []
        for v in range(2):
            view, pts = sample["views"][v]["video"][:, 0], sample["points"][v]
            px, py = pts[:, 0].floor().long().clamp(0, S - 1), pts[:, 1].floor().long().clamp(0, S - 1)
            colour = view[:, py, px]
            decoded.append(torch.stack([(colour[0] - 2) / 4, (colour[1] - 2) / 4], 1))
            mask = sample["views"][v]["mask"][0]
            agree += int((mask[py, px].long() == sample["point_class"]).sum())
            total += len(px)
        # the same image location in both views (up to the resampling of the crops)
        assert (decoded[0] - decoded[1]).abs().max() <= 1.5
        # and inside the image's class region: x >= 32 is foreground
        fg = sample["point_class"] == 1
        assert (decoded[0][fg, 0] >= 30.5).all() and (decoded[0][~fg, 0] <= 32.5).all()
    assert agree / total >= 0.95


def test_samples_depend_on_seed_epoch_and_index_only(tmp_path) -> None:
    root = _write_tree(tmp_path)
    items = semantic_items(root, "train", ["A"], {"A": "semantic/A"})
    a, b = (SemanticPointsDataset(items, _identity, S, seed=5) for _ in range(2))
    assert torch.equal(a[(1, 0)]["points"], b[(1, 0)]["points"])
    assert not torch.equal(a[(1, 0)]["points"], a[(1, 1)]["points"])


def test_bad_input_is_named_in_eval_mode_and_counted_in_training(tmp_path) -> None:
    root = _write_tree(tmp_path / "missing_b", drop_b="p1.png")
    items = semantic_items(root, "train", ["A", "B"], {"A": "semantic/A", "B": "semantic/B"})
    with pytest.raises(DATA_ERRORS, match="B/p1.png"):
        SemanticPointsDataset(items, _identity, S)[4]
    sample = SemanticPointsDataset(items, _identity, S, skip_bad=True)[4]
    assert "B/p1.png" in sample["replaced"][0].path
    small = _write_tree(tmp_path / "small_masks", mask_size=32)
    items = semantic_items(small, "train", ["A"], {"A": "semantic/A"})
    with pytest.raises(AnnotationError, match=r"semantic/A/p0.png.*32x32.*64x64"):
        SemanticPointsDataset(items, _identity, S)[0]
    assert isinstance(SemanticPointsDataset(items, _identity, S, skip_bad=True)._load(0), BadItem)
    with pytest.raises(AnnotationError, match="no mask folder for date 'B'"):
        semantic_items(root, "train", ["A", "B"], {"A": "semantic/A"})
    with pytest.raises(AnnotationError, match="no A/ folder"):
        semantic_items(root, "val", ["A"], None)


def test_synthetic_semantic_masks_show_each_dates_structures(tmp_path) -> None:
    """Without misregistration the two dates' masks differ exactly by the change label; with it, the change
    label is inside their union; the writer puts them at <split>/semantic/<date>/<name>."""
    from avssl.data.synthetic.change import (
        ChangeSynthSpec,
        render_pair,
        semantic_masks,
        write_change_detection,
    )

    spec = ChangeSynthSpec(size=32, changes=(1, 3))
    for seed in range(6):
        _, _, label, record = render_pair(spec, seed, nuisance=False)
        mask_a, mask_b = semantic_masks(record, 32)
        assert np.array_equal(mask_a ^ mask_b, label) and mask_a.any()
        _, _, label, record = render_pair(spec, seed)
        mask_a, mask_b = semantic_masks(record, 32)
        assert not (label & ~(mask_a | mask_b)).any()
    root = write_change_detection(tmp_path, {"train": 2}, spec)
    written = np.asarray(Image.open(root / "train" / "semantic" / "B" / "train_1.png"))
    _, _, _, record = render_pair(spec, 0)
    assert np.array_equal(written > 0, semantic_masks(record, 32)[1])


def test_an_alpha_channel_is_not_a_class(tmp_path) -> None:
    grey = np.zeros((4, 4), np.uint8)
    grey[1, 2] = 255
    alpha = np.full((4, 4), 255, np.uint8)
    Image.fromarray(np.stack([grey, alpha], -1), "LA").save(tmp_path / "la.png")
    Image.fromarray(np.stack([grey, grey, grey, alpha], -1), "RGBA").save(tmp_path / "rgba.png")
    for name in ("la.png", "rgba.png"):
        mask = read_mask(tmp_path / name, (4, 4))
        assert int(mask.sum()) == 1 and mask[1, 2] == 1, name
