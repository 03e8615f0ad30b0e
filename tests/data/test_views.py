"""Multi-view samples: per-view transforms and sizes, window timing rules on real encoded mp4s,
(seed, epoch, index) determinism, the bad-item stand-in, collate shapes, and images as T = 1 clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avssl.config import from_dict
from avssl.data.datasets import load_index
from avssl.data.datasets.base import BadItem, ClipDataset, ClipItem, ClipSpec, ClipView, collate
from avssl.data.datasets.image_folder import ImageViewsDataset, image_folder_items
from avssl.data.datasets.shards import ShardDataset, write_shards
from avssl.data.decoding import read_clip
from avssl.data.loader import DataConfig, ViewConfig, build_dataset, data_transforms, sized_transforms
from avssl.data.sampling import ViewTiming, clip_starts, view_start
from avssl.data.synthetic.images import write_image_folder
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic

GRAY = {"name": "normalize", "mean": [0.5] * 3, "std": [0.5] * 3}  # keeps "all channels equal" visible


@pytest.fixture(scope="module")
def vgg(tmp_path_factory):
    root = tmp_path_factory.mktemp("vgg_views")
    write_synthetic("vggsound", root, SynthSpec(n=6, seed=2, size=48, duration_s=4.0))
    return root


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("img_views"), {"train": 32}, size=32, seed=1)


def _cfg(root, **changes) -> DataConfig:
    return DataConfig(
        root=str(root), layout="vggsound", split=None, duration_s=0.5, fps=4, size=24, **changes
    )


def _is_gray(video: torch.Tensor) -> bool:
    """(C, ...) with every channel equal."""
    return bool(torch.equal(video[0], video[1]) and torch.equal(video[1], video[2]))


def test_no_views_is_todays_single_view_sample(vgg):
    cfg = _cfg(vgg)
    ds = build_dataset(cfg, train=True, seed=3)
    assert not ds.views
    transform = data_transforms(cfg, train=True)
    for index in range(3):
        item = ds.items[index]
        sample = ds[(index, 1)]
        assert "views" not in sample
        # the pipeline written out: (seed, epoch, index) window, decode, transform with its generator
        span = (item.end_s or 0.0) - item.start_s
        rng = np.random.default_rng([3, 1, index])
        start = item.start_s + clip_starts(span, 0.5, "random", rng)[0]
        clip = read_clip(item.path, start, 0.5, fps=4, size=ds.spec.size, sample_rate=16000, channels=1)
        raw = {"video": clip.frames.permute(0, 3, 1, 2).contiguous(), "audio": clip.audio}
        expected = transform(raw, torch.Generator().manual_seed(hash((3, 1, index)) & 0x7FFF_FFFF_FFFF))
        assert torch.equal(sample["video"], expected["video"]) and torch.equal(
            sample["audio"], expected["audio"]
        )
    # one view that inherits everything is today's sample, as view 0 and at the top level
    one = build_dataset(_cfg(vgg, views=[ViewConfig()]), train=True, seed=3)
    for index in range(3):
        plain, multi = ds[(index, 1)], one[(index, 1)]
        assert len(multi["views"]) == 1 and torch.equal(multi["views"][0]["video"], plain["video"])
        assert torch.equal(multi["video"], plain["video"]) and torch.equal(
            multi["views"][0]["audio"], plain["audio"]
        )
        assert multi["meta"] == plain["meta"] and multi["views"][0]["start_s"] == plain["meta"]["start_s"]


def test_asymmetric_views_and_multi_crop_shapes_on_video(vgg):
    views = [
        ViewConfig(
            transforms=[{"name": "random_resized_crop"}, {"name": "random_grayscale", "p": 1.0}, GRAY]
        ),
        ViewConfig(
            transforms=[{"name": "random_resized_crop"}, {"name": "random_grayscale", "p": 0.0}, GRAY]
        ),
        *[ViewConfig(size=12, audio=False) for _ in range(3)],  # local crops, no audio
    ]
    ds = build_dataset(_cfg(vgg, views=views), train=True, seed=0)
    assert ds.spec.size == round(24 * 1.15)  # decoded once, for the largest view
    batch = collate([ds[(i, 0)] for i in range(4)])
    assert [tuple(v["video"].shape) for v in batch["views"]] == [(4, 3, 2, 24, 24)] * 2 + [
        (4, 3, 2, 12, 12)
    ] * 3
    assert all(_is_gray(v) for v in batch["views"][0]["video"])
    assert not any(_is_gray(v) for v in batch["views"][1]["video"])  # colour scenes
    assert [("audio" in v) for v in batch["views"]] == [True, True, False, False, False]
    assert batch["views"][0]["audio"].shape == (4, 1, 8000)
    assert batch["video"].shape == (4, 3, 2, 24, 24) and batch["index"].tolist() == [0, 1, 2, 3]
    # per-view crops recorded: the same window, different crops
    assert all(len(g) == 1 for g in batch["views"][0]["geometry"])
    assert batch["views"][0]["geometry"] != batch["views"][1]["geometry"]
    assert torch.equal(batch["views"][0]["start_s"], batch["views"][2]["start_s"])


def test_offset_rule_windows_on_a_real_mp4(vgg):
    items = load_index("vggsound", vgg).items
    timing = [
        ViewTiming(),
        ViewTiming(rule="offset", min_gap_s=1.0, max_gap_s=1.5),
        ViewTiming(rule="random"),
    ]
    spec = ClipSpec(duration_s=0.5, fps=4, size=(24, 24))
    ds = ClipDataset(items, spec, mode="train", seed=4, views=[ClipView(None, t) for t in timing])
    gaps = []
    for index in range(len(items)):
        for epoch in range(3):
            sample = ds[(index, epoch)]
            starts = [v["start_s"] for v in sample["views"]]
            assert starts[0] == sample["meta"]["start_s"]  # view 0 is the sampler's window
            gaps.append(abs(starts[1] - starts[0]))
            assert 0.0 <= min(starts) and max(starts) <= 4.0 - 0.5 + 1e-9
            for view, start in zip(sample["views"], starts):  # each view holds the frames of its window
                clip = read_clip(items[index].path, start, 0.5, fps=4, size=(24, 24), sample_rate=16000)
                assert torch.equal(view["video"], clip.frames.permute(0, 3, 1, 2))
                assert torch.equal(view["audio"], clip.audio)
    assert all(1.0 - 1e-9 <= g <= 1.5 + 1e-9 for g in gaps) and max(gaps) - min(gaps) > 0.1


def test_offset_rule_sides_and_short_media():
    timing = ViewTiming(rule="offset", min_gap_s=1.0, max_gap_s=2.0)
    rng = np.random.default_rng(0)
    starts = [view_start(1.5, 4.0, 1.0, timing, rng) for _ in range(200)]  # last start 3.0: both sides fit
    assert all(1.0 <= abs(s - 1.5) <= 2.0 + 1e-12 and 0.0 <= s <= 3.0 for s in starts)
    assert min(starts) < 0.6 and max(starts) > 2.4  # both sides used
    near_start = [view_start(0.2, 4.0, 1.0, timing, rng) for _ in range(50)]  # only "after" fits
    assert all(1.2 <= s <= 2.2 + 1e-12 for s in near_start)
    assert view_start(0.1, 1.5, 1.0, timing, rng) == 0.5  # no gap of 1 s fits: the largest that does
    assert view_start(0.3, 1.5, 1.0, timing, rng) == 0.0  # (on the roomier side)
    with pytest.raises(ValueError, match="unknown view timing"):
        view_start(0.0, 4.0, 1.0, ViewTiming(rule="power_law"), rng)
    with pytest.raises(ValueError, match="min_gap_s <= max_gap_s"):  # a config error shows when it is built
        ClipDataset([], views=[ClipView(None, ViewTiming(rule="offset", min_gap_s=2.0, max_gap_s=1.0))])


def test_views_are_deterministic_in_seed_epoch_index(vgg):
    views = [ViewConfig(), ViewConfig(size=12, timing=ViewTiming(rule="random"))]
    a = build_dataset(_cfg(vgg, views=views), train=True, seed=5)
    b = build_dataset(_cfg(vgg, views=views), train=True, seed=5)  # e.g. another worker, or after resume
    for index in (0, 3):
        s1, s2 = a[(index, 2)], b[(index, 2)]
        for v1, v2 in zip(s1["views"], s2["views"]):
            assert torch.equal(v1["video"], v2["video"]) and v1["start_s"] == v2["start_s"]
            assert v1["geometry"] == v2["geometry"]
    other_epoch = a[(0, 3)]["views"]
    assert any(not torch.equal(x["video"], y["video"]) for x, y in zip(a[(0, 2)]["views"], other_epoch))


def test_bad_item_stand_in_replaces_the_whole_multi_view_sample(vgg, tmp_path):
    (tmp_path / "bad.mp4").write_text("not a video")
    items = load_index("vggsound", vgg).items
    items = [*items[:2], ClipItem(id="bad", path=str(tmp_path / "bad.mp4"), end_s=4.0), *items[2:]]
    views = [
        ClipView(sized_transforms([{"name": "random_resized_crop"}, {"name": "normalize"}], s))
        for s in (24, 12)
    ]
    ds = ClipDataset(items, ClipSpec(duration_s=0.5, fps=4, size=(28, 28)), mode="train", seed=1, views=views)
    stand_in = ds[(2, 0)]
    assert stand_in["index"] != 2 and [b.index for b in stand_in["replaced"]] == [2]
    assert ds[(2, 0)]["index"] == stand_in["index"]  # drawn from (seed, epoch, index)
    batch = collate([ds[(i, 0)] for i in range(4)])
    assert [b.index for b in batch["bad_items"]] == [2] and batch["num_items"] == 4
    assert [tuple(v["video"].shape) for v in batch["views"]] == [(4, 3, 2, 24, 24), (4, 3, 2, 12, 12)]
    eval_ds = ClipDataset(items, ds.spec, mode="eval", views=views)
    with pytest.raises(Exception, match="bad.mp4"):
        eval_ds[2]
    assert isinstance(ClipDataset(items[2:3], ds.spec, mode="train", views=views)[0], BadItem)


def test_shards_stream_the_same_views(vgg, tmp_path):
    index = load_index("vggsound", vgg)
    write_shards(index, tmp_path / "shards", items_per_shard=4)
    spec = ClipSpec(duration_s=0.5, fps=4, size=(24, 24))
    views = [ClipView(None), ClipView(None, ViewTiming(rule="offset", min_gap_s=1.0, max_gap_s=2.0))]
    folder = ClipDataset(index.items, spec, mode="train", seed=2, views=views)
    streamed = {
        s["meta"]["id"]: s for s in ShardDataset(tmp_path / "shards", spec, mode="train", seed=2, views=views)
    }
    assert len(streamed) == len(index.items)
    for k, item in enumerate(index.items):
        a, b = folder[(k, 0)], streamed[item.id]
        for va, vb in zip(a["views"], b["views"], strict=True):
            assert va["start_s"] == vb["start_s"] and torch.equal(va["video"], vb["video"])


def test_image_views_are_one_frame_clips_with_their_own_transforms(images):
    items, _ = image_folder_items(images, "train")
    crop = {"name": "random_resized_crop", "scale": [0.3, 1.0]}
    transforms = [
        sized_transforms([crop, {"name": "random_grayscale", "p": 0.9}, GRAY], 32),
        sized_transforms([crop, {"name": "random_grayscale", "p": 0.1}, GRAY], 32),
        *[sized_transforms([{**crop, "scale": [0.05, 0.3]}, GRAY], 16) for _ in range(4)],
    ]
    ds = ImageViewsDataset(items, transforms, seed=0)
    batch = collate([ds[(i, 0)] for i in range(len(items))])
    n = len(items)
    assert [tuple(v["video"].shape) for v in batch["views"]] == [(n, 3, 1, 32, 32)] * 2 + [
        (n, 3, 1, 16, 16)
    ] * 4
    assert batch["video"].shape == (n, 3, 1, 32, 32) and len(batch["views"][2]["geometry"]) == n
    gray = [sum(_is_gray(v) for v in batch["views"][k]["video"]) for k in (0, 1)]
    assert gray[0] >= 0.7 * n and gray[1] <= 0.3 * n  # p = 0.9 vs 0.1 over 32 images
    again = ds[(5, 0)]["views"]
    assert all(torch.equal(x, y["video"][5]) for x, y in zip([v["video"] for v in again], batch["views"]))


def test_views_from_yaml_keys():
    cfg = from_dict(
        DataConfig,
        {
            "views": [
                {},
                {"size": 16, "audio": False, "timing": {"rule": "offset", "min_gap_s": 0.5, "max_gap_s": 1}},
            ]
        },
    )
    assert cfg.views[0] == ViewConfig() and cfg.views[1].timing == ViewTiming("offset", 0.5, 1.0)
    assert cfg.views[1].size == 16 and cfg.views[1].audio is False


def test_image_recipe_views_config(images):
    from avssl.runner.image_data import ImageDataConfig, image_dataset

    local = ViewConfig(size=16, transforms=[{"name": "random_resized_crop", "scale": [0.05, 0.3]}, GRAY])
    cfg = from_dict(ImageDataConfig, {"root": str(images), "size": 32})
    cfg.views = [ViewConfig(), ViewConfig(), local, local]
    sample = image_dataset(cfg, "train", train=True)[(0, 0)]
    assert [tuple(v["video"].shape) for v in sample["views"]] == [(3, 1, 32, 32)] * 2 + [(3, 1, 16, 16)] * 2
    default = image_dataset(
        from_dict(ImageDataConfig, {"root": str(images), "size": 32}), "train", train=True
    )
    pair = default[(0, 0)]["views"]  # no views: two of `transforms`, the first two views above
    assert len(pair) == 2 and all(torch.equal(p["video"], v["video"]) for p, v in zip(pair, sample["views"]))
    assert image_dataset(cfg, "train", train=False)[0]["video"].shape == (3, 1, 32, 32)
