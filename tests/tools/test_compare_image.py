"""tools/compare_image.py end to end at toy scale (2 steps, 24 / 16 images): every column of the table (the
shift suite's drops too), a strategy's claim line against its base (InsLoc's with the context-shift drop), results.json, a rerun reading the finished runs back, and the
method names checked before anything trains."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import compare_image  # noqa: E402

TOY = ["train.batch_size=4", "model.queue_size=8", "data.num_workers=0"]


def test_compare_image_table_claims_and_reuse(tmp_path, monkeypatch) -> None:
    args = [
        "--out",
        str(tmp_path),
        "--steps",
        "2",
        "--images",
        "24,16",
        "--methods",
        "moco,moco_bg_swaps,moco_insloc",
        *TOY,
    ]
    result = compare_image.main(args)
    lines = (tmp_path / "table.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| method"))
    assert len(header.strip("|").split("|")) == 11
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| method")]
    assert [r.split("|")[1].strip() for r in rows] == ["moco", "moco_bg_swaps", "moco_insloc"]
    assert any(c.startswith("- moco_bg_swaps vs moco: BG-gap") for c in result["claims"])
    insloc = next(c for c in result["claims"] if c.startswith("- moco_insloc vs moco"))
    assert "context-shift drop" in insloc
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["mean"]["moco"]) == {
        "knn",
        "linear",
        "only_fg",
        "mixed_same",
        "mixed_rand",
        "mixed_next",
        "gap_linear",
        "gap_knn",
        "drop_appearance",
        "drop_context",
    }

    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(compare_image, "run_recipe", no_training)
    assert compare_image.main(args)["mean"] == result["mean"]
    with pytest.raises(SystemExit):
        compare_image.main(["--out", str(tmp_path), "--methods", "moco,nope"])


def test_dense_suite_table_claims_and_reuse(tmp_path, monkeypatch) -> None:
    """`--suite dense`: random (moco's architecture reinitialised, moco's run not trained twice), moco and hcl
    at 2 steps, every column filled by the evaluators, claim lines against random and moco, a rerun
    reading every evaluation back."""
    args = [
        "--suite", "dense", "--out", str(tmp_path), "--steps", "2", "--images", "24,16",
        "--methods", "random,moco,hcl", "--detection-steps", "2", "--change-steps", "2", *TOY,
    ]  # fmt: skip
    result = compare_image.main(args)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["hcl_s0", "moco_s0"]
    columns = {"knn", "linear", "scene_object_map", "dense_miou", "voc07_map", "det_ap", "det_ap50", "cd_f1"}
    columns |= {"det_ap_frozen"}
    for name in ("random", "moco", "hcl"):
        assert set(result["mean"][name]) == {*columns, "scene_object_map_ball"}
        assert all(0 <= result["mean"][name][c] <= 100 for c in columns), (name, result["mean"][name])
    assert result["mean"]["moco"]["scene_object_map_ball"] is None  # no Poincaré ball: an empty cell
    assert 0 <= result["mean"]["hcl"]["scene_object_map_ball"] <= 100
    assert result["mean"]["random"] != result["mean"]["moco"]  # another backbone, not the run's
    assert any(c.startswith("- hcl vs moco: higher on") for c in result["claims"])
    assert any(c.startswith("- moco vs random:") for c in result["claims"])
    header = next(
        line for line in (tmp_path / "table.md").read_text().splitlines() if line.startswith("| method")
    )
    assert "dense mIoU" in header and "CD F1" in header and "det AP50" in header

    def no_work(*a, **k):
        raise AssertionError("a finished run was trained or evaluated again")

    import dense_suite

    monkeypatch.setattr(dense_suite, "run_recipe", no_work)
    monkeypatch.setattr(dense_suite, "dense_figures", no_work)
    assert compare_image.main(args)["mean"] == result["mean"]

    # a stored evaluation without a column (a column added later): only that column is computed
    stored_path = next((tmp_path / "runs" / "hcl_s0").glob("dense_eval_*.json"))
    stored = json.loads(stored_path.read_text())
    del stored["figures"]["cd_f1"]
    stored_path.write_text(json.dumps(stored))
    asked = []

    def only_cd(task, trees, detection_steps, change_steps, columns):
        asked.append(list(columns))
        return {"figures": {c: 50.0 for c in columns}, "reports": {}}

    monkeypatch.setattr(dense_suite, "dense_figures", only_cd)
    assert compare_image.main(args)["mean"]["hcl"]["cd_f1"] == 50.0 and asked == [["cd_f1"]]

    # a run trained further (--steps 3): evaluated again, not read from the 2-step figures
    monkeypatch.setattr(dense_suite, "run_recipe", compare_image.run_recipe)
    asked.clear()
    compare_image.main([a if a != "2" else "3" for a in args[:6]] + args[6:])
    assert len(asked) == 3, asked
