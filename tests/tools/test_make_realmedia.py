"""tools/make_realmedia.py at toy scale: the committed photographs and recordings build a VGG-Sound-layout
training set, a Flickr-SoundNet-layout test set and an AVSBench-S4-layout segmentation set that our loaders
read, with boxes and masks from the paste."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from make_realmedia import (  # noqa: E402
    BACKGROUNDS_TRAIN,
    SOUNDING,
    TRAIN_SIZES,
    _overlap,
    build,
    compose,
    load_assets,
)

from avssl.data.datasets import load_index  # noqa: E402
from avssl.evaluation.localization import baseline_predictions, evaluate_localization  # noqa: E402
from avssl.evaluation.segmentation import baseline_predictions as baseline_predictions_s4  # noqa: E402
from avssl.evaluation.segmentation import benchmark_test_items, evaluate_segmentation  # noqa: E402


def test_builds_layouts_our_loaders_read(tmp_path) -> None:
    train, test = build(tmp_path, n_train=4, n_test=6, seed=3)
    assert len(load_index("vggsound", train).items) == 4
    items = load_index("flickr", test).items
    assert len(items) == 6
    gt = json.loads((test / "realmedia_gt.json").read_text())
    assert gt["kind"] == "composited real media"
    for item_id, entry in gt["items"].items():
        assert entry["label"] in SOUNDING
        x0, y0, x1, y1 = entry["true_boxes_256"][0]
        assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
        assert (x1 - x0) * (y1 - y0) >= (0.3 * 256) ** 2  # big objects, as Flickr-SoundNet's mostly are
        frame = np.asarray(Image.open(test / "frames" / f"{item_id}.jpg"))
        assert frame.shape == (256, 256, 3) and frame.std() > 20  # a photograph, not a flat fill
        audio, rate = sf.read(str(test / "audio" / f"{item_id}.wav"))
        assert rate == 16000 and np.abs(audio).max() > 0.2  # the object's recording is audible
    ids = [item.id for item in items]
    centre = evaluate_localization("flickr", test, baseline_predictions("centre", ids, seed=0), "gt")
    assert centre["num_samples"] == 6


def test_same_seed_same_set(tmp_path) -> None:
    build(tmp_path / "a", n_train=1, n_test=2, seed=5)
    build(tmp_path / "b", n_train=1, n_test=2, seed=5)
    first = json.loads((tmp_path / "a" / "flickr" / "realmedia_gt.json").read_text())
    assert first == json.loads((tmp_path / "b" / "flickr" / "realmedia_gt.json").read_text())


def test_s4_layout_masks_where_the_sounding_animal_is(tmp_path) -> None:
    build(tmp_path, n_train=0, n_test=0, seed=4, n_s4=8)
    root = tmp_path / "avsbench-s4"
    assert not load_index("avsbench-s4", root).problems
    splits = {split: load_index("avsbench-s4", root, split).items for split in ("train", "val", "test")}
    assert {split: len(items) for split, items in splits.items()} == {"train": 4, "val": 2, "test": 2}
    assert [item.id for item in benchmark_test_items("avsbench-s4", root)] == [i.id for i in splits["test"]]
    gt = json.loads((root / "realmedia_gt.json").read_text())
    assert gt["layout"] == "avsbench-s4" and len(gt["items"]) == 8
    for split, items in splits.items():
        for item in items:
            entry = gt["items"][item.id]
            assert entry["split"] == split
            assert Path(item.frames[0]).parent.parent.name == entry["label"].replace(" ", "_")  # category
            present = [m for m in item.masks if m is not None]
            assert len(present) == (1 if split == "train" else 5)  # S4 training: first frame's mask only
            frame = np.asarray(Image.open(item.frames[0]))
            assert frame.shape == (224, 224, 3) and frame.std() > 20  # a photograph, not a flat fill
            mask = np.asarray(Image.open(present[0]))
            assert mask.shape == (224, 224) and set(np.unique(mask)) == {0, 255}  # binary
            x0, y0, x1, y1 = entry["boxes"][0]
            inside = np.zeros_like(mask, dtype=bool)
            inside[y0:y1, x0:x1] = True
            assert not mask[~inside].any() and mask[inside].mean() > 0.2 * 255  # within the animal's box
            assert frame[mask > 0].std() > 10  # the animal's photograph under the mask, not a flat fill
            audio, rate = sf.read(item.audio_path)
            assert rate == 16000 and len(audio) == 5 * 16000 and np.abs(audio).max() > 0.2  # audible, 5 s
    items = splits["test"]
    metrics = evaluate_segmentation("avsbench-s4", root, baseline_predictions_s4("centre-blob", items))
    assert metrics["num_frames"] == 5 * len(items)


def test_masks_are_the_visible_parts_after_the_depth_ordered_paste() -> None:
    assets, rng = load_assets(), np.random.default_rng(7)
    overlapping = 0
    for _ in range(12):
        scene = compose(assets, 160, TRAIN_SIZES, BACKGROUNDS_TRAIN, rng)
        masks, boxes = scene["masks"], [scene["box"], *scene["silent_boxes"]]
        assert len(masks) == len(boxes) and all(m.any() for m in masks)
        assert sum(m.astype(int) for m in masks).max() == 1  # no pixel belongs to two objects: the upper wins
        for mask, (x0, y0, x1, y1) in zip(masks, boxes):
            assert mask[y0:y1, x0:x1].sum() == mask.sum()  # inside the object's own box
        overlapping += any(_overlap(a, b) > 0 for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert overlapping  # some scenes have overlapping objects, so the occlusion is exercised
