"""Clip-pair sampling (CVRL: Qian et al., CVPR 2021): two clips of one video at a drawn start-to-start
distance (uniform or decreasing law), each with one crop / flip / colour draw for all of its frames,
independent between the two clips, the draws recorded and replayable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipDataset, ClipSpec, ClipView, collate
from avssl.data.loader import DataConfig, ViewConfig, build_dataset
from avssl.data.sampling import ViewTiming, check_timing, draw_distance, view_start
from avssl.data.synthetic.action import ActionSynthSpec, write_action_synthetic
from avssl.transforms import build_transforms
from avssl.transforms.clip import ClipAugment, apply_clip_augment


def test_uniform_distance_is_flat_and_power_law_decreases():
    rng = np.random.default_rng(0)
    uniform = ViewTiming(rule="distance", distance="uniform", min_gap_s=0.0, max_gap_s=4.0)
    power = ViewTiming(rule="distance", distance="power", power=1.0, min_gap_s=0.0, max_gap_s=4.0)
    du = np.array([draw_distance(0.0, 4.0, uniform, rng) for _ in range(20_000)])
    dp = np.array([draw_distance(0.0, 4.0, power, rng) for _ in range(20_000)])
    hist_u = np.histogram(du, bins=4, range=(0, 4))[0] / len(du)
    hist_p = np.histogram(dp, bins=4, range=(0, 4))[0] / len(dp)
    assert np.allclose(hist_u, 0.25, atol=0.02)
    # P(d) ∝ 1 - d / 4: bin masses (7, 5, 3, 1) / 16, computed by hand from the density
    assert np.allclose(hist_p, np.array([7, 5, 3, 1]) / 16, atol=0.02), hist_p
    steep = ViewTiming(rule="distance", distance="power", power=0.5, max_gap_s=4.0)
    ds = np.array([draw_distance(0.0, 4.0, steep, rng) for _ in range(20_000)])
    assert np.mean(ds) < np.mean(dp) < np.mean(du)  # a = 0.5 puts more mass on short distances than a = 1


def test_distance_rule_places_the_second_clip_inside_the_media():
    rng = np.random.default_rng(1)
    timing = ViewTiming(rule="distance", distance="power", min_gap_s=0.5, max_gap_s=3.0)
    check_timing(timing)
    for _ in range(2000):
        media, clip = rng.uniform(1.0, 10.0), 1.0
        anchor = rng.uniform(0, media - clip)
        start = view_start(anchor, media, clip, timing, rng)
        assert 0.0 <= start <= media - clip + 1e-9
        gap = abs(start - anchor)
        assert gap <= 3.0 + 1e-9
        if max(anchor, media - clip - anchor) >= 0.5:
            assert gap >= 0.5 - 1e-9
    with pytest.raises(ValueError, match="distance"):
        check_timing(ViewTiming(rule="distance", distance="gaussian"))


def test_one_draw_for_every_frame_and_the_record_replays_it():
    frame = torch.randint(0, 256, (3, 40, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    video = frame.expand(6, 3, 40, 48).clone()  # six identical frames
    augment = ClipAugment(size=24, scale=(0.2, 0.6), flip_p=0.5, jitter_p=1.0, grayscale_p=0.0)
    seen = set()
    for seed in range(12):
        out = augment({"video": video}, torch.Generator().manual_seed(seed))
        params = out["augment"]
        assert out["video"].shape == (6, 3, 24, 24)
        assert all(torch.equal(out["video"][0], out["video"][t]) for t in range(6))  # same op on each frame
        assert torch.equal(apply_clip_augment(video, params, (24, 24)), out["video"])  # the record replays it
        top, left, height, width = params["crop"]
        assert 0 <= top and top + height <= 40 and 0 <= left and left + width <= 48
        seen.add((tuple(params["crop"]), params["flip"]))
        assert [g.op.__class__.__name__ for g in out["geometry"]] == ["ResizedCrop"] + ["HFlip"] * params[
            "flip"
        ]
    assert len(seen) == 12  # fresh draws per generator
    # a moving clip: the crop is the same window of every frame (frame t = frame 0 shifted by t pixels)
    moving = torch.stack([torch.roll(frame, t, dims=-1) for t in range(6)])
    out = ClipAugment(
        size=(40, 48), scale=(0.5, 0.5), ratio=(1.2, 1.2), flip_p=0.0, jitter_p=0.0, grayscale_p=0.0
    )({"video": moving}, torch.Generator().manual_seed(3))
    top, left, height, width = out["augment"]["crop"]
    for t in range(6):
        expected = apply_clip_augment(moving[t : t + 1], out["augment"], (40, 48))[0]
        assert torch.equal(out["video"][t], expected)


@pytest.fixture(scope="module")
def action_root(tmp_path_factory):
    spec = ActionSynthSpec(num_classes=3, clips_per_class=2, size=48, frames=32, fps=8.0, seed=5)
    return write_action_synthetic("ucf101", tmp_path_factory.mktemp("pairs"), spec)


def test_clip_pairs_from_a_dataset(action_root):
    items = load_index("ucf101", action_root, "train").items
    transforms = [{"name": "clip_augment", "size": 32, "jitter_p": 1.0}]
    timing = ViewTiming(rule="distance", distance="power", min_gap_s=0.5, max_gap_s=3.0)
    views = [ClipView(build_transforms(transforms)), ClipView(build_transforms(transforms), timing)]
    dataset = ClipDataset(items, ClipSpec(duration_s=1.0, fps=8, size=(40, 40)), seed=2, views=views)
    raw = ClipDataset(items, ClipSpec(duration_s=1.0, fps=8, size=(40, 40)), mode="eval")
    for index in range(len(items)):
        sample = dataset[index]
        first, second = sample["views"]
        assert first["video"].shape == second["video"].shape == (8, 3, 32, 32)
        assert 0.5 - 1e-6 <= abs(second["start_s"] - first["start_s"]) <= 3.0 + 1e-6
        assert first["augment"] != second["augment"]  # independent draws for the two clips
        for view in (first, second):  # each clip's record replays it on the decoded window
            window = raw.load(index, start=view["start_s"])["video"]
            assert torch.equal(apply_clip_augment(window, view["augment"], (32, 32)), view["video"])
        again = dataset[index]  # (seed, epoch, index) determinism
        assert torch.equal(again["views"][1]["video"], second["video"])
    batch = collate([dataset[0], dataset[1]])
    assert batch["views"][1]["video"].shape == (2, 8, 3, 32, 32) and len(batch["views"][0]["augment"]) == 2


def test_clip_pairs_from_a_data_config(action_root):
    cfg = DataConfig(
        root=str(action_root),
        layout="ucf101",
        split="train",
        split_index=2,
        duration_s=1.0,
        fps=8,
        size=32,
        transforms=[{"name": "clip_augment", "flip_p": 0.0}, {"name": "normalize"}],
        views=[
            ViewConfig(),
            ViewConfig(timing=ViewTiming(rule="distance", distance="uniform", max_gap_s=2.0)),
        ],
    )
    dataset = build_dataset(cfg, train=True, seed=0)
    batch = collate([dataset[(k, 0)] for k in range(2)])
    assert batch["views"][0]["video"].shape == (2, 3, 8, 32, 32) and "audio" not in batch["views"][0]
    assert all(a["flip"] is False for a in batch["views"][1]["augment"])


def _half_still_video(path) -> str:
    """A real h264 mp4, 4 s at 8 fps, 64 px: a checked square stands still for 2 s, then moves 2 px right
    and 1 px down per frame over a static noise background (no audio)."""
    from avssl.data.media_writer import write_video

    rng = np.random.default_rng(0)
    background = (rng.random((64, 64, 3)) * 120).astype(np.uint8)
    checks = ((np.arange(12)[:, None] // 3 + np.arange(12)[None] // 3) % 2).astype(np.uint8)
    frames = []
    for k in range(32):
        frame, s = background.copy(), max(0, k - 16)
        top, left = 20 + s, 4 + 2 * s
        frame[top : top + 12, left : left + 12, 0] = 230 * checks
        frame[top : top + 12, left : left + 12, 1] = 230 * (1 - checks)
        frames.append(frame)
    return str(write_video(path, frames, 8.0))


def test_tracked_views_are_drawn_again_until_both_clips_show_the_moving_object(tmp_path):
    """PreViTS (Chen et al., WACV 2023, Sec. 3.1) samples clip pairs that both contain the tracked object:
    with `accept: {name: tracked}` both views' windows lie where the object moves (at least half of a
    1 s window after 2 s), without it many do not; the redraws are a function of (seed, epoch, index)."""
    from avssl.data.datasets.base import ClipItem
    from avssl.data.sampling import ViewCheck, check_view_check, tracked_fraction

    item = ClipItem(id="half", path=_half_still_video(tmp_path / "half.mp4"), end_s=4.0)
    spec = ClipSpec(duration_s=1.0, fps=8, size=(32, 32), sample_rate=None)
    pipeline = [{"name": "object_track", "tracker": "motion"}, {"name": "track_crop", "size": 32}]
    pair = [ViewTiming(), ViewTiming(rule="distance", distance="uniform")]

    def dataset(check: ViewCheck) -> ClipDataset:
        views = [ClipView(build_transforms(pipeline), t, False, check) for t in pair]
        return ClipDataset([item] * 12, spec, mode="train", seed=5, views=views)

    def fractions(ds: ClipDataset) -> list[float]:
        samples = [ds[(i, 0)] for i in range(len(ds))]
        return [tracked_fraction(v) for s in samples for v in s["views"]]

    checked = dataset(ViewCheck("tracked", min_fraction=0.5, tries=8))
    plain = dataset(ViewCheck())
    assert min(fractions(checked)) >= 0.5
    assert sum(f < 0.5 for f in fractions(plain)) >= 6  # of 24 views: the anchor alone is still half the time
    again = [v["start_s"] for v in checked[(3, 0)]["views"]]
    assert again == [v["start_s"] for v in dataset(ViewCheck("tracked", 0.5, 8))[(3, 0)]["views"]]
    # the sample's top-level keys are the accepted anchor view's
    sample = checked[(4, 0)]
    assert torch.equal(sample["video"], sample["views"][0]["video"])
    # bad settings and a pipeline without a track are named
    with pytest.raises(ValueError, match="unknown view check 'visible'"):
        check_view_check(ViewCheck("visible"))
    with pytest.raises(ValueError, match="tries >= 1"):
        ClipDataset([item], spec, views=[ClipView(None, ViewTiming(), False, ViewCheck("tracked", tries=0))])
    untracked = ClipView(build_transforms([{"name": "clip_augment", "size": 32}]), ViewTiming(), False)
    untracked.accept = ViewCheck("tracked")
    with pytest.raises(ValueError, match="put {name: object_track}"):
        ClipDataset([item], spec, mode="train", views=[untracked]).load_views(0)


def test_curriculum_widens_the_largest_distance_linearly_over_epochs():
    """ConCur (Roy & Etemad, ICASSP 2023): positives start near and the span grows with training. Here the
    largest distance is 0.5 s at epoch 0, 0.5 + 3.5 × e / 10 s at epoch e, 4 s from epoch 10 on; the
    distance is uniform on that span (anchor in the middle of a 10 s video, so both sides fit)."""
    from avssl.data.sampling import curriculum_span

    timing = ViewTiming(
        rule="distance", distance="uniform", max_gap_s=4.0, curriculum_start_s=0.5, curriculum_epochs=10
    )
    check_timing(timing)
    plain = ViewTiming(rule="distance", distance="uniform", max_gap_s=4.0)
    for epoch, span in [(0, 0.5), (4, 0.5 + 3.5 * 0.4), (10, 4.0), (25, 4.0)]:
        assert curriculum_span(4.0, timing, epoch) == pytest.approx(span)
        rng = np.random.default_rng(epoch)
        d = np.array([abs(view_start(4.5, 10.0, 1.0, timing, rng, epoch) - 4.5) for _ in range(4000)])
        assert d.max() <= span + 1e-9 and d.max() >= 0.97 * span
        assert d.mean() == pytest.approx(span / 2, rel=0.05)  # uniform on [0, span]
    # from the last curriculum epoch on, the draws are the plain rule's
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [view_start(2.0, 10.0, 1.0, timing, a, 12) for _ in range(50)] == [
        view_start(2.0, 10.0, 1.0, plain, b, 12) for _ in range(50)
    ]
    assert curriculum_span(4.0, plain, 0) == 4.0  # no curriculum: the full span from the start
    with pytest.raises(ValueError, match="curriculum_epochs >= 0"):
        check_timing(ViewTiming(rule="distance", curriculum_epochs=-1))
