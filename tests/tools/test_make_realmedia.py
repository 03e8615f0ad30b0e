"""tools/make_realmedia.py at toy scale: the committed photographs and recordings build a VGG-Sound-layout
training set and a Flickr-SoundNet-layout test set that our loaders read, with boxes from the paste."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from make_realmedia import SOUNDING, build  # noqa: E402

from avssl.data.datasets import load_index  # noqa: E402
from avssl.evaluation.localization import baseline_predictions, evaluate_localization  # noqa: E402


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
