"""CLI: one readable error line and a non-zero exit for bad input; tracebacks only with --debug."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from avssl.cli import main
from avssl.data.decoding import MediaError


def test_bad_file_one_line_and_nonzero_exit(tmp_path, capsys):
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    assert main(["decode", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "not a readable media file" in err[0]
    with pytest.raises(MediaError):
        main(["--debug", "decode", str(bad)])


def test_console_script_exit_code(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "avssl.cli", "probe", str(tmp_path / "none.mp4")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "file not found" in result.stderr


def test_selfcheck_runs_and_reports_alignment(tmp_path, capsys):
    assert main(["selfcheck", "--out", str(tmp_path / "demo"), "--windows", "6"]) == 0
    out = capsys.readouterr().out
    assert "frames and audio aligned" in out
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    for result in summary.values():
        assert result["max_frame_error_ms"] <= 2 * result["half_frame_ms"]
        assert abs(result["max_abs_audio_lag_ms"]) < 10
    assert (tmp_path / "demo" / "cfr_gop250_window.jpg").stat().st_size > 1000
