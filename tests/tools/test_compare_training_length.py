"""tools/compare_training_length.py at toy scale (the real-media set, 2 and 8 steps; the synthetic set runs
the same code with other data): the curves from eval.every, the
rendered and raw final figures, held-out retrieval over the clips no run trained on, the verdict line, and a
rerun that reuses the finished runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from compare_training_length import main  # noqa: E402

TOY = ["data.size=32", "data.num_workers=0", "train.batch_size=4", "train.checkpoint_every=1000"]


@pytest.mark.slow
def test_study_table_curves_raw_maps_and_retrieval(tmp_path) -> None:
    args = [
        "--out",
        str(tmp_path),
        "--sets",
        "realmedia",
        "--steps",
        "2,8",
        "--every",
        "4",
        "--sizes",
        "8,4,5",
        "--tag",
        "toy",
        *TOY,
    ]
    assert main(args) == 0
    results = json.loads((tmp_path / "results_toy.json").read_text())
    assert set(results) == {"realmedia_2_toy", "realmedia_8_toy"}
    for key, result in results.items():
        expected_curve = ["4"] if key.endswith("_8_toy") else []  # eval.every, before the end
        assert list(result["curve"]) == expected_curve
        assert result["final"]["num_samples"] == 4 and result["raw"]["num_samples"] == 4
        assert result["retrieval"]["num_items"] == 5  # the held-out clips, none of them trained on
    # the demo recipe renders its maps; the raw figures score the same model without model.render
    config = (tmp_path / "runs" / "realmedia_8_toy" / "config.yaml").read_text()
    assert "temperature: 0.03" in config and "blur_sigma: 2.0" in config
    table = (tmp_path / "table_toy.md").read_text()
    assert table.count("| realmedia |") == 2
    assert "(20.00) |" in table  # chance of R@1 among 5 clips
    verdicts = [line for line in table.splitlines() if line.startswith("- ")]
    assert len(verdicts) == 1 and "8 steps" in verdicts[0] and "2 steps" in verdicts[0]
    stamp = (tmp_path / "runs" / "realmedia_2_toy" / "model" / "model.safetensors").stat().st_mtime
    assert main(args) == 0  # a rerun reuses the finished runs
    assert (tmp_path / "runs" / "realmedia_2_toy" / "model" / "model.safetensors").stat().st_mtime == stamp
