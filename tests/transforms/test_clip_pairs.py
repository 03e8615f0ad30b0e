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
