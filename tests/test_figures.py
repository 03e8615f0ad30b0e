"""avssl.figures: the series read from a run directory (the data behind every curve) and the PNGs."""

from __future__ import annotations

import json
import struct

import pytest

from avssl.figures import figure_size, panels, plot_runs, run_series, table_png


def png_size(path) -> tuple[int, int]:
    """(width, height) from the PNG signature and IHDR chunk; fails on anything that is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def write_run(run, steps, loss, evals=None, final=None):
    """A run directory as the training loop leaves it: metrics.jsonl, eval_step_N.json, eval_*.json."""
    run.mkdir(parents=True)
    lines = [
        {"step": s, "loss": v, "loss/nce": v / 2, "lr": 0.1 * s, "samples_per_s": 9.0, "time": 1e9}
        for s, v in zip(steps, loss)
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    for step, metrics in (evals or {}).items():
        (run / f"eval_step_{step}.json").write_text(json.dumps(metrics))
    if final is not None:
        (run / "eval_localization.json").write_text(json.dumps(final))
    return run


def test_run_series_reads_every_curve(tmp_path):
    run = write_run(
        tmp_path / "ssl_tie",
        [10, 20, 30],
        [3.0, 2.0, 1.5],
        evals={20: {"cIoU": 40.0, "AUC": 35.5, "num_samples": 48}, 10: {"cIoU": 20.0, "AUC": 25.0}},
        final={"cIoU": 60.0, "AUC": 50.0, "num_samples": 48, "rule": "gt"},
    )
    series = run_series(run)
    assert series.name == "ssl_tie"
    assert series.train == {
        "loss": ([10, 20, 30], [3.0, 2.0, 1.5]),
        "loss/nce": ([10, 20, 30], [1.5, 1.0, 0.75]),
        "lr": ([10, 20, 30], [pytest.approx(1.0), pytest.approx(2.0), pytest.approx(3.0)]),
    }
    # eval_step files in step order, the final evaluation at the last logged step; counts left out
    assert series.evaluation == {
        "cIoU": ([10, 20, 30], [20.0, 40.0, 60.0]),
        "AUC": ([10, 20, 30], [25.0, 35.5, 50.0]),
    }


def test_final_evaluation_merges_every_evaluator_or_reads_eval_json(tmp_path):
    run = write_run(tmp_path / "run", [1, 2], [1.0, 0.5], final={"cIoU": 10.0})
    (run / "eval_segmentation.json").write_text(json.dumps({"mIoU": 0.25}))
    assert run_series(run).evaluation == {"cIoU": ([2], [10.0]), "mIoU": ([2], [0.25])}
    (run / "eval.json").write_text(json.dumps({"cIoU": 11.0, "mIoU": 0.5}))
    assert run_series(run).evaluation == {"cIoU": ([2], [11.0]), "mIoU": ([2], [0.5])}


def test_panels_keep_one_line_per_run_and_every_metric(tmp_path):
    a = run_series(write_run(tmp_path / "a", [1, 2], [1.0, 0.5], evals={2: {"mIoU": 0.3}}))
    b = run_series(write_run(tmp_path / "b", [1, 2, 3], [2.0, 1.0, 0.7], evals={3: {"cIoU": 10.0}}))
    drawn = panels([a, b])
    assert [title for title, _ in drawn] == ["loss", "lr", "mIoU", "cIoU"]
    assert drawn[0][1] == {"a": ([1, 2], [1.0, 0.5]), "b": ([1, 2, 3], [2.0, 1.0, 0.7])}
    assert list(drawn[2][1]) == ["a"] and list(drawn[3][1]) == ["b"]


def test_plot_png_has_the_expected_size(tmp_path):
    runs = [
        run_series(write_run(tmp_path / n, [1, 2, 3], [3.0, 2.0, 1.0], evals={3: {"cIoU": 5.0}}))
        for n in "ab"
    ]
    out = plot_runs(runs, tmp_path / "plots" / "curves.png")
    assert figure_size(3) == (1200, 300)
    assert png_size(out) == figure_size(3)
    assert figure_size(4) == (1200, 600)


def test_run_without_a_log_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no metrics.jsonl"):
        run_series(tmp_path)
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(FileNotFoundError, match="no logged step"):
        run_series(tmp_path)


def test_table_png_grows_with_rows_and_title(tmp_path):
    header, rows = ["method", "cIoU (%)"], [["ssl_tie", "61.2"], ["centre prior", "18.0"]]
    width, height = png_size(table_png(rows, header, tmp_path / "t.png"))
    assert width >= 400 and height > 50
    taller = png_size(table_png(rows * 3, header, tmp_path / "t3.png"))
    assert taller[0] == width and taller[1] > height
    titled = png_size(table_png(rows, header, tmp_path / "tt.png", "a long caption line " * 6 + "\nsecond"))
    assert titled[0] > width and titled[1] > height
