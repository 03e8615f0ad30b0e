"""tools/compare_localization.py at toy scale (one variant, two steps): the markdown table, results.json and
the same table as a PNG."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from compare_localization import main  # noqa: E402


@pytest.mark.slow
def test_compare_writes_markdown_json_and_png(tmp_path) -> None:
    args = [
        "--out",
        str(tmp_path),
        "--steps",
        "2",
        "--n-train",
        "32",
        "--n-test",
        "4",
        "--variants",
        "ssl_tie",
    ]
    assert main(args) == 0
    assert list(json.loads((tmp_path / "results.json").read_text())) == ["ssl_tie", "centre prior", "random"]
    table = (tmp_path / "table.md").read_text().splitlines()
    assert table[2] == "| method | cIoU (%) | AUC (%) | mean cIoU |" and len(table) == 7
    png = (tmp_path / "table.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
