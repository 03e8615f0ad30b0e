"""Training datasets skip and count bad items; past max_bad_fraction the run stops; eval raises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from avssl.data.datasets.base import (
    BadItem,
    BadItemTracker,
    ClipDataset,
    ClipItem,
    ClipSpec,
    TooManyBadItems,
    collate,
    worker_init,
)
from avssl.data.decoding import MediaError
from avssl.data.media_writer import write_video


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    d = tmp_path_factory.mktemp("items")
    t = np.arange(48000 * 3) / 48000
    audio = (0.3 * np.sin(2 * np.pi * 330 * t))[None].astype(np.float32)
    good = write_video(
        d / "good.mp4", [np.full((60, 80, 3), (9 * i) % 256, np.uint8) for i in range(75)], 25, audio, 48000
    )
    (d / "bad.mp4").write_text("not a video")
    out = []
    for i in range(20):
        path = d / "bad.mp4" if i % 10 == 3 else good  # 2 bad of 20
        out.append(ClipItem(id=f"clip{i}", path=str(path), label=i % 3))
    return out


SPEC = ClipSpec(duration_s=1.0, fps=4, size=(32, 32))


def test_train_mode_skips_and_counts_bad_items_across_workers(items):
    ds = ClipDataset(items, SPEC, mode="train", seed=1)
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate, worker_init_fn=worker_init)
    tracker = BadItemTracker(max_fraction=0.2, min_seen=8)
    good = 0
    for batch in loader:
        tracker.update(batch)
        assert batch["video"].shape == (4, 4, 3, 32, 32)  # every batch full: a stand-in replaces a bad item
        assert batch["audio"].shape[1:] == (1, 16000)
        good += batch["video"].shape[0]
    assert tracker.seen == 20 and len(tracker.bad) == 2 and good == 20
    assert {b.index for b in tracker.bad} == {3, 13}
    assert all("bad.mp4" in b.reason and "not a readable media file" in b.reason for b in tracker.bad)
    # the stand-in is a readable item drawn from (seed, epoch, index): the same on every load
    stand_in = ds[(3, 0)]
    assert stand_in["index"] not in (3, 13) and [b.index for b in stand_in["replaced"]] == [3]
    assert ds[(3, 0)]["index"] == stand_in["index"]


def test_a_bad_item_without_readable_stand_in_is_dropped(items):
    from avssl.data.datasets.base import replace_bad

    ds = ClipDataset([items[3]] * 4, SPEC, mode="train")
    assert isinstance(ds[0], BadItem) and isinstance(replace_bad(ds.sample, 0, 4, 0, 0), BadItem)
    batch = collate([ds[0], ClipDataset(items[:1], SPEC, mode="train")[0]])
    assert batch["video"].shape[0] == 1 and len(batch["bad_items"]) == 1 and batch["num_items"] == 2


def test_run_stops_past_the_bad_fraction(items):
    ds = ClipDataset(items, SPEC, mode="train")
    loader = DataLoader(ds, batch_size=5, collate_fn=collate)
    tracker = BadItemTracker(max_fraction=0.05, min_seen=5)
    with pytest.raises(TooManyBadItems, match=r"could not be read .*max_bad_fraction 5.0%.*bad.mp4"):
        for batch in loader:
            tracker.update(batch)


def test_tracker_state_round_trip(items):
    tracker = BadItemTracker(max_fraction=0.5, min_seen=1)
    tracker.update(collate([ClipDataset(items, SPEC)[i] for i in range(4)]))
    restored = BadItemTracker(max_fraction=0.5, min_seen=1)
    restored.load_state_dict(tracker.state_dict())
    assert restored.seen == 4 and [b.index for b in restored.bad] == [3]


def test_eval_mode_raises(items):
    ds = ClipDataset(items, SPEC, mode="eval")
    with pytest.raises(MediaError, match="bad.mp4"):
        ds[3]


def test_random_windows_are_reproducible_per_epoch(items):
    ds = ClipDataset(items, SPEC, seed=7)
    first = [ds[0]["meta"]["start_s"] for _ in range(2)]
    ds.set_epoch(1)
    second = ds[0]["meta"]["start_s"]
    assert first[0] == first[1] and second != first[0]
    assert 0.0 <= second <= 2.0
    sample = ds[0]
    assert sample["video"].dtype == torch.uint8 and sample["label"] == 0


def test_transforms_are_deterministic_per_sample_and_epoch(items):
    from avssl.transforms import build_transforms

    pipeline = build_transforms(
        [
            {"name": "random_resized_crop", "size": 24, "scale": [0.3, 1.0]},
            {"name": "random_horizontal_flip", "p": 0.5},
            {"name": "normalize"},
        ]
    )
    ds = ClipDataset(items, SPEC, transform=pipeline, seed=3)
    a, b = ds[1], ds[1]
    assert torch.equal(a["video"], b["video"]) and a["geometry"] == b["geometry"]
    assert a["video"].shape == (3, 4, 24, 24) and a["video"].dtype == torch.float32
    ds.set_epoch(5)
    assert ds[1]["geometry"] != a["geometry"]
    batch = collate([ds[0], ds[1]])
    assert batch["video"].shape == (2, 3, 4, 24, 24) and len(batch["geometry"]) == 2
