"""`avssl demo` end to end on tiny data: synthesis in two layouts, SSL-TIE training, exact cIoU/AUC next
to the baselines, and `avssl localize` on a held-out video. (The full-size demo's learning bar is
tests/recipes/test_localization_learning.py, a slow test.)"""

from __future__ import annotations

import json

from avssl.cli import main as cli


def test_quick_demo_runs_end_to_end(tmp_path, capsys):
    assert cli(["demo", "--out", str(tmp_path), "--quick", "--steps", "40"]) == 0
    out = capsys.readouterr().out
    assert "centre prior" in out and "overlay video:" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"ssl_tie (trained)", "centre prior", "random"}
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert next((tmp_path / "localize").glob("*/heatmaps.npz")).stat().st_size > 0
