"""`avssl plot RUN… --out curves.png` from the command line, and its one-line errors."""

from __future__ import annotations

import json
import struct

from avssl.cli import main
from avssl.figures import figure_size


def write_log(run, steps):
    run.mkdir(parents=True)
    rows = [{"step": s, "loss": 1.0 / s, "lr": 0.01} for s in steps]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / f"eval_step_{steps[-1]}.json").write_text(json.dumps({"mIoU": 0.4, "F": 0.5}))


def test_plot_writes_a_png_of_the_panels(tmp_path, capsys):
    write_log(tmp_path / "run_a", [1, 2, 3])
    write_log(tmp_path / "run_b", [2, 4])
    out = tmp_path / "figs" / "curves.png"
    assert main(["plot", str(tmp_path / "run_a"), str(tmp_path / "run_b"), "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == figure_size(4)  # loss, lr, mIoU, F
    assert "2 runs" in capsys.readouterr().out


def test_plot_errors_are_one_line(tmp_path, capsys):
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no metrics.jsonl" in err[0] and err[0].startswith("avssl plot: error:")
    write_log(tmp_path / "run", [1, 2])
    blocker = tmp_path / "file"
    blocker.write_text("x")  # --out under a regular file cannot be created
    assert main(["plot", str(tmp_path / "run"), "--out", str(blocker / "c.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a directory" in err[0] and not (blocker / "c.png").exists()
