"""Learning: SSL-TIE trained on synthetic VGG-Sound-layout videos and tested on a separately generated
Flickr-layout set (another seed) beats the centre prior; `avssl localize` then follows the sounding object
of a held-out video. The full-size check is `avssl demo` itself (slow); the default suite runs the same
code on tiny data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avssl.cli import main as cli


def _peaks_inside(out, min_fraction):
    gt = json.loads((out / "data" / "heldout" / "synth_gt.json").read_text())
    (item,) = gt["items"].values()
    peaks = json.loads(next((out / "localize").glob("*/peaks.json")).read_text())["peaks"]
    inside = 0
    for p in peaks:
        k = int(np.argmin(np.abs(np.array(item["times"]) - p["time"])))
        inside += any(b[0] <= p["x"] <= b[2] and b[1] <= p["y"] <= b[3] for b in item["boxes"][k])
    return inside / len(peaks)


@pytest.mark.slow
def test_demo_ssl_tie_beats_centre_prior_by_15_points_and_localizes(tmp_path, capsys):
    assert cli(["demo", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    print(json.dumps(metrics, indent=1))
    trained, centre, random = metrics["ssl_tie (trained)"], metrics["centre prior"], metrics["random"]
    assert trained["cIoU"] >= centre["cIoU"] + 15, metrics
    assert trained["cIoU"] > random["cIoU"] and trained["AUC"] > centre["AUC"]
    assert _peaks_inside(tmp_path, 0.7) >= 0.7
    overlay = next((tmp_path / "localize").glob("*/overlay.mp4"))
    assert overlay.stat().st_size > 10_000


def test_quick_demo_runs_end_to_end(tmp_path, capsys):
    assert cli(["demo", "--out", str(tmp_path), "--quick", "--steps", "40"]) == 0
    out = capsys.readouterr().out
    assert "centre prior" in out and "overlay video:" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"ssl_tie (trained)", "centre prior", "random"}
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert next((tmp_path / "localize").glob("*/heatmaps.npz")).stat().st_size > 0
