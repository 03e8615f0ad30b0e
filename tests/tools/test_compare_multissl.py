"""tools/compare_multissl.py end to end at toy scale: every row and column of the table, the forgetting lines
of both incremental runs (with and without the replay memory), and the reuse of finished runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from compare_multissl import main  # noqa: E402


def test_compare_table_rows_columns_and_forgetting(tmp_path) -> None:
    args = [
        "--out",
        str(tmp_path),
        "--steps",
        "3",
        "--items",
        "12",
        "--batch-size",
        "2",
        "--repeats",
        "1",
        "--replay-buffer",
        "4",
        "--extra",
        "data.size=32",
        "data.num_workers=0",
        "train.log_every=1",
    ]
    rows = main(args)
    assert [r["method"] for r in rows] == [
        "single: spatial",
        "single: sync",
        "single: gap",
        "joint (sum)",
        "incremental",
        "incremental + memory 4",
    ]
    assert set(rows[0]) == {
        "method",
        "spatial",
        "sync",
        "gap",
        "visual knn / lin / R@1",
        "audio knn / lin / R@1",
    }
    assert rows[0]["sync"] == "–" and rows[3]["gap"] != "–" and rows[5]["spatial"] != "–"
    assert all(len(r["visual knn / lin / R@1"].split(" / ")) == 3 for r in rows)
    table = json.loads((tmp_path / "table.json").read_text())
    assert {k: len(v) for k, v in table["forgetting"].items()} == {
        "incremental": 3,
        "incremental + memory 4": 3,
    }
    assert "forgetting (incremental + memory 4)" in (tmp_path / "table.md").read_text()
    assert (tmp_path / "table.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    memory = tmp_path / "incremental_memory" / "stages" / "02_gap" / "replay_memory.safetensors"
    assert memory.is_file() and not (tmp_path / "incremental" / "stages" / "02_gap" / memory.name).exists()
    stamp = (tmp_path / "joint" / "model" / "model.safetensors").stat().st_mtime_ns
    assert main(args) == rows  # a rerun reuses every finished run
    assert (tmp_path / "joint" / "model" / "model.safetensors").stat().st_mtime_ns == stamp
