"""Learning (the localization issue's bar): `avssl demo` — SSL-TIE trained on synthetic VGG-Sound-layout
videos, tested on a separately generated Flickr-SoundNet-layout set — beats the centre prior's cIoU by
≥ 15 points, and `avssl localize` on the held-out video with a moving sounding object puts the peak inside
the object's true box in ≥ 70 % of the windows."""

from __future__ import annotations

import json

import pytest

from avssl.demo import run_demo


def _box_at(gt_item: dict, time_s: float) -> list[float]:
    """The sounding object's true box at `time_s` (the synthetic video's boxes are per frame)."""
    k = min(range(len(gt_item["times"])), key=lambda i: abs(gt_item["times"][i] - time_s))
    return gt_item["boxes"][k][0]


@pytest.mark.slow
def test_demo_beats_the_centre_prior_and_follows_the_sounding_object(tmp_path):
    assert run_demo(tmp_path) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    trained, centre = metrics["ssl_tie (trained)"], metrics["centre prior"]
    print(metrics)
    assert trained["cIoU"] >= centre["cIoU"] + 15, metrics
    assert trained["AUC"] > centre["AUC"], metrics

    gt = json.loads((tmp_path / "data" / "heldout" / "synth_gt.json").read_text())["items"]
    (item,) = gt.values()
    peaks = json.loads(next((tmp_path / "localize").glob("*/peaks.json")).read_text())["peaks"]
    inside = 0
    for p in peaks:
        x0, y0, x1, y1 = _box_at(item, p["time"])
        inside += x0 <= p["x"] <= x1 and y0 <= p["y"] <= y1
    print(f"peaks inside the true box: {inside} / {len(peaks)}")
    assert inside >= 0.7 * len(peaks)
