"""Localization evaluation end to end on synthetic Flickr-SoundNet / VGG-SS layouts and P.npz I/O (the
command itself: tests/cli/test_benchmarks.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avssl.data.annotations import AnnotationError
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.evaluation.localization import (
    PredictionError,
    baseline_predictions,
    evaluate_localization,
    flickr_gt_map,
    load_predictions,
    save_predictions,
    vggss_gt_map,
)


@pytest.fixture(scope="module")
def flickr(tmp_path_factory):
    root = write_synthetic("flickr", tmp_path_factory.mktemp("flickr"), SynthSpec(n=6, seed=0))
    return root, json.loads((root / "synth_gt.json").read_text())["items"]


@pytest.fixture(scope="module")
def vggss(tmp_path_factory):
    root = write_synthetic("vggss", tmp_path_factory.mktemp("vggss"), SynthSpec(n=4, seed=1, size=64))
    entries = json.loads((root / "vggss.json").read_text())
    entries.append({"file": "corrupt_000001", "class": "dog barking", "bbox": [[-2.9e16, 0.1, 0.5, 0.5]]})
    (root / "vggss.json").write_text(json.dumps(entries))
    return root, json.loads((root / "synth_gt.json").read_text())["items"]


def drawn_boxes(boxes, size=256):
    """The annotators' boxes drawn at the image's own resolution: how many annotators cover each pixel."""
    canvas = np.zeros((size, size), dtype=np.float32)
    for x0, y0, x1, y1 in boxes:
        canvas[int(y0) : int(y1), int(x0) : int(x1)] += 1
    return canvas


def test_ground_truth_boxes_score_100(flickr):
    root, gt = flickr
    at_224 = {i: flickr_gt_map(item["boxes_256"]) for i, item in gt.items()}
    m = evaluate_localization("flickr", root, at_224, "gt")
    assert (m["cIoU"], m["AUC"], m["mean_cIoU"], m["num_samples"]) == (100.0, 100.0, 1.0, 6)
    assert m["rule"] == "gt" and m["resize"] == "cv2" and m["missing_predictions"] == []
    drawn = evaluate_localization("flickr", root, {i: drawn_boxes(it["boxes_256"]) for i, it in gt.items()})
    assert drawn["cIoU"] == 100.0 and 0.8 < drawn["mean_cIoU"] < 1.0  # resized 256 → 224: soft edges
    # '≥' (EZ-VSL): a binary map whose median is 0 makes every pixel positive
    ge = evaluate_localization("flickr", root, at_224, "ge")
    assert ge["resize"] == "align_corners" and ge["mean_cIoU"] < 0.5 and ge["cIoU"] < 50


@pytest.mark.parametrize("kind", ["centre", "random"])
def test_baselines_score_much_lower(flickr, kind):
    root, gt = flickr
    m = evaluate_localization("flickr", root, baseline_predictions(kind, list(gt), seed=0), "gt")
    assert m["num_samples"] == 6 and m["cIoU"] <= 50 and m["mean_cIoU"] < 0.5 and m["AUC"] < 50


def test_missing_and_unused_predictions(flickr):
    root, gt = flickr
    ids = sorted(gt)
    partial = {i: flickr_gt_map(gt[i]["boxes_256"]) for i in ids[:4]}
    with pytest.raises(PredictionError, match="no prediction for 2 flickr items") as err:
        evaluate_localization("flickr", root, partial)
    assert ids[4] in str(err.value) and ids[5] in str(err.value)
    partial["not-a-test-id"] = np.zeros((7, 7))
    m = evaluate_localization("flickr", root, partial, allow_missing=True)
    assert m["num_samples"] == 4 and sorted(m["missing_predictions"]) == ids[4:]
    assert m["unused_predictions"] == 1 and m["cIoU"] == 100.0
    with pytest.raises(ValueError, match="benchmark"):
        evaluate_localization("avsbench", root, partial)


def test_vggss_end_to_end_reports_skipped_entries(vggss):
    root, gt = vggss
    m = evaluate_localization("vggss", root, {i: vggss_gt_map(it["boxes"]) for i, it in gt.items()})
    assert (m["cIoU"], m["num_samples"]) == (100.0, 4)
    assert len(m["skipped_items"]) == 1 and "corrupt_000001" in m["skipped_items"][0]


# ------------------------------------------------------------------------------------------- P.npz


def test_predictions_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    maps = {
        "-uoij7R0qAZ_000257": rng.random((7, 7)).astype(np.float32),
        "12896824519": rng.random((20, 30)),
        "file": rng.random((224, 224)).astype(np.float16),  # a name np.savez(**kw) could not take
        "dir/clip_0001": np.arange(6, dtype=np.int64).reshape(2, 3),
    }
    path = tmp_path / "P.npz"
    save_predictions(path, maps)
    loaded = load_predictions(path)
    assert loaded.keys() == maps.keys()
    for key, value in maps.items():
        assert loaded[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded[key], value)
    assert not (tmp_path / "P.npz.tmp").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [(np.zeros((1, 7, 7)), "2-D"), (np.zeros(5), "2-D"), (np.array([[0.0, np.nan]]), "non-finite")],
)
def test_bad_maps_name_the_file_and_id(tmp_path, value, message):
    path = tmp_path / "bad.npz"
    np.savez(path, good=np.zeros((7, 7)), bad_id=value)
    with pytest.raises(PredictionError, match=message) as err:
        load_predictions(path)
    assert str(path) in str(err.value) and "bad_id" in str(err.value)
    assert isinstance(err.value, AnnotationError)  # the CLI prints it as one line
    with pytest.raises(PredictionError, match=message):
        save_predictions(tmp_path / "out.npz", {"bad_id": value})


def test_unreadable_prediction_files(tmp_path):
    with pytest.raises(PredictionError, match="not found"):
        load_predictions(tmp_path / "missing.npz")
    single = tmp_path / "single.npy"
    np.save(single, np.zeros((7, 7)))
    with pytest.raises(PredictionError, match="single array"):
        load_predictions(single)
    text = tmp_path / "text.npz"
    text.write_text("not an archive")
    with pytest.raises(PredictionError, match=str(text)):
        load_predictions(text)
