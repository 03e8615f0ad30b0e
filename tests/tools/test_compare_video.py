"""tools/compare_video.py end to end at toy scale (2 steps, 4 clips per class): every column of the table,
the claim lines, results.json, a rerun reading the finished runs back instead of training, and the method
names checked before anything trains."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import compare_video  # noqa: E402

TOY = ["synthetic_clips_per_class=4", "train.batch_size=4", "model.queue_size=8", "data.num_workers=0"]


@pytest.mark.slow
def test_compare_video_table_claims_and_reuse(tmp_path, monkeypatch) -> None:
    torch.set_num_threads(1)
    args = ["--out", str(tmp_path), "--steps", "2", "--methods", "untrained,video_moco,fame", *TOY]
    result = compare_video.main(args)
    lines = (tmp_path / "table.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| method"))
    assert [c.strip() for c in header.strip("|").split("|")][1:] == [c for c, _ in compare_video.COLUMNS]
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| method")]
    assert [r.split("|")[1].strip() for r in rows] == ["untrained", "video_moco", "fame"]
    assert all("–" not in r for r in rows)  # every evaluator scored every method
    assert any(c.startswith("- fame: swapped drop") for c in result["claims"])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["figures"]) == {"untrained", "video_moco", "fame"}
    assert 0.0 <= saved["mean"]["fame"]["iou"] <= 1.0

    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(compare_video, "run_recipe", no_training)
    assert compare_video.main(args)["mean"] == result["mean"]
    with pytest.raises(SystemExit):
        compare_video.main(["--out", str(tmp_path), "--methods", "untrained,nope"])
