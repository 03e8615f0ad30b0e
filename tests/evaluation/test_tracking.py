"""Tracking on frozen features (OTB protocol, Wu et al. TPAMI 2015): overlap, success AUC and precision@20
against loops written from the definitions; the template tracker follows a feature that moves; the OTB
layout reads the release's box files and names bad ones; `avssl eval tracking` runs on a synthetic set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avssl.cli import main
from avssl.data.datasets import load_index
from avssl.data.synthetic.tracking import TrackSynthSpec, write_tracking_synthetic
from avssl.evaluation.tracking import sequence_scores, track


def naive_scores(pred, truth) -> dict:
    ious, hits = [], 0
    for p, t in zip(pred, truth):
        if t[2] <= 0 or t[3] <= 0:
            continue
        iw = max(0.0, min(p[0] + p[2], t[0] + t[2]) - max(p[0], t[0]))
        ih = max(0.0, min(p[1] + p[3], t[1] + t[3]) - max(p[1], t[1]))
        inter = iw * ih
        ious.append(inter / (p[2] * p[3] + t[2] * t[3] - inter))
        dx = (p[0] + (p[2] - 1) / 2) - (t[0] + (t[2] - 1) / 2)
        dy = (p[1] + (p[3] - 1) / 2) - (t[1] + (t[3] - 1) / 2)
        hits += (dx * dx + dy * dy) ** 0.5 <= 20
    success = [sum(i > th for i in ious) / len(ious) for th in [k / 20 for k in range(21)]]
    return {"success_auc": 100 * sum(success) / 21, "precision@20": 100 * hits / len(ious)}


def test_scores_equal_the_loops() -> None:
    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.uniform(0, 100, 30), rng.uniform(0, 100, 30), rng.uniform(5, 40, (30, 2))])
    pred = truth + np.column_stack([rng.normal(0, 15, (30, 2)), rng.normal(0, 5, (30, 2))])
    pred[:, 2:] = np.abs(pred[:, 2:]) + 1
    truth[3, 2] = 0  # a frame without ground truth is not scored
    got, want = sequence_scores(pred, truth), naive_scores(pred, truth)
    assert got["success_auc"] == pytest.approx(want["success_auc"])
    assert got["precision@20"] == pytest.approx(want["precision@20"])
    assert sequence_scores(truth, truth)["precision@20"] == 100.0


def test_template_tracker_follows_a_moving_feature() -> None:
    """An 8×8 map per frame, a distinctive 2×2 patch moving one cell right and down per frame over noise:
    the predicted box moves 8 px (one cell of a 64 px image) per frame with the first box's size."""
    g = torch.Generator().manual_seed(0)
    maps = 0.1 * torch.randn(5, 16, 8, 8, generator=g)
    patch = torch.randn(16, 2, 2, generator=g) * 3
    for t in range(5):
        maps[t, :, 1 + t : 3 + t, 1 + t : 3 + t] += patch
    first = np.array([8.0, 8.0, 16.0, 16.0])  # covers cells 1–2 of a 64 px image
    boxes = track(maps, first, (64, 64))
    expected = np.array([[8.0 + 8 * t, 8.0 + 8 * t, 16.0, 16.0] for t in range(5)])
    assert np.allclose(boxes, expected)


def test_otb_layout_and_the_cli(tmp_path) -> None:
    root = write_tracking_synthetic(tmp_path / "OTB", TrackSynthSpec(n=3, size=64, frames=8, seed=2))
    index = load_index("otb", root)
    assert [i.id for i in index.items] == ["Synth01", "Synth02", "Synth03"] and not index.problems
    boxes = (root / "Synth01" / "groundtruth_rect.txt").read_text().splitlines()
    x, y, w, h = (float(v) for v in boxes[0].split(","))
    assert index.items[0].meta["track_boxes"][0] == [x, y, x + w, y + h] and len(index.items[0].frames) == 8
    # the release's other separators and a second target; bad files are named and skipped
    (root / "Synth02" / "groundtruth_rect.2.txt").write_text("\n".join(b.replace(",", "\t") for b in boxes))
    (root / "Synth03" / "groundtruth_rect.txt").write_text("1,2,3\n" * 8)
    (root / "Synth01" / "img" / "0008.jpg").unlink()
    index = load_index("otb", root)
    assert sorted(i.id for i in index.items) == ["Synth02", "Synth02.2"]
    problems = "\n".join(index.problems)
    assert "Synth03/groundtruth_rect.txt: line 1: expected 4 numbers" in problems
    assert "Synth01/groundtruth_rect.txt: 8 boxes for 7 frames" in problems


def test_eval_tracking_cli(tmp_path, capsys) -> None:
    from recipes.carl import main as carl
    from tests.tasks.test_video_moco import ROOT, TOY_RECIPE_ARGS

    run = tmp_path / "carl"
    carl(["--config", str(ROOT / "recipes" / "configs" / "carl.yaml"), f"output_dir={run}", *TOY_RECIPE_ARGS])
    root = write_tracking_synthetic(tmp_path / "OTB", TrackSynthSpec(n=2, size=64, frames=6, seed=1))
    out = tmp_path / "tracking.json"
    assert main(["eval", "tracking", "--run", str(run), "--data", str(root), "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["num_sequences"] == 2 and set(got["per_sequence"]) == {"Synth01", "Synth02"}
    assert 0 <= got["success_auc"] <= 100 and got["size"] == 32
    mean = np.mean([s["success_auc"] for s in got["per_sequence"].values()])
    assert got["success_auc"] == pytest.approx(mean)
    capsys.readouterr()
    assert (
        main(["eval", "tracking", "--run", str(run), "--data", str(tmp_path / "none"), "--out", str(out)])
        != 0
    )
    assert "not a folder of OTB sequences" in capsys.readouterr().err
