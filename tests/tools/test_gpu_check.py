"""tools/gpu_check.py where no CUDA device exists: one line, exit 0, nothing written; its comparison
against fp32 flags a loss, a metric or a map outside the stated tolerances."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import gpu_check  # noqa: E402


def test_without_cuda_prints_one_line_and_exits_0(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert (
        captured.out == "gpu_check: no CUDA device on this machine; nothing to check\n" and not captured.err
    )
    assert not (tmp_path / "out").exists()


def test_compare_uses_the_stated_tolerances():
    ref = {"loss": 2.0, "metrics": {"./cIoU": 40.0, "./AUC": 80.0}, "maps": np.zeros((2, 4, 4))}
    close = {"loss": 2.05, "metrics": {"./cIoU": 48.0, "./AUC": 99.0}, "maps": np.full((2, 4, 4), 0.05)}
    assert gpu_check._compare(ref, close)[3] == []
    far = {"loss": 2.2, "metrics": {"./cIoU": 51.0}, "maps": np.full((2, 4, 4), 0.2)}
    failures = gpu_check._compare(ref, far)[3]
    assert len(failures) == 4 and failures[0].startswith("loss") and failures[-1].startswith("maps")
    assert any("AUC None" in f for f in failures)
