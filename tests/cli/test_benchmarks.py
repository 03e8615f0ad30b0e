"""`avssl eval localization` through the command line: M.json written and printed, baselines, and the
one-source rule. (`avssl eval segmentation` is exercised with a trained run in
tests/segmentation/test_recipe_cli.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from avssl.cli import main
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.evaluation.localization import save_predictions


@pytest.fixture(scope="module")
def flickr(tmp_path_factory):
    root = write_synthetic("flickr", tmp_path_factory.mktemp("flickr"), SynthSpec(n=6, seed=0))
    return root, json.loads((root / "synth_gt.json").read_text())["items"]


def drawn_boxes(boxes, size=256):
    """The annotators' boxes drawn at the image's own resolution: how many annotators cover each pixel."""
    canvas = np.zeros((size, size), dtype=np.float32)
    for x0, y0, x1, y1 in boxes:
        canvas[int(y0) : int(y1), int(x0) : int(x1)] += 1
    return canvas


def eval_localization(root, *args: str) -> int:
    return main(["eval", "localization", "--benchmark", "flickr", "--data", str(root), *args])


def test_cli_writes_and_prints_m_json(flickr, tmp_path, capsys):
    root, gt = flickr
    path = tmp_path / "P.npz"
    save_predictions(path, {i: drawn_boxes(it["boxes_256"]) for i, it in gt.items()})
    assert eval_localization(root, "--predictions", str(path), "--out", str(tmp_path / "run")) == 0
    written = json.loads((tmp_path / "run" / "M.json").read_text())
    assert json.loads(capsys.readouterr().out) == written
    assert written["cIoU"] == 100.0 and written["predictions"] == str(path) and written["baseline"] is None

    out = tmp_path / "centre.json"
    assert eval_localization(root, "--baseline", "centre", "--out", str(out), "--threshold-rule", "ge") == 0
    centre = json.loads(out.read_text())
    assert centre["baseline"] == "centre" and centre["rule"] == "ge" and centre["cIoU"] < written["cIoU"]
    capsys.readouterr()
    assert eval_localization(root, "--baseline", "random", "--out", str(tmp_path / "r.json")) == 0


def test_cli_needs_exactly_one_source(flickr, tmp_path, capsys):
    root, _ = flickr
    assert eval_localization(root, "--out", str(tmp_path)) == 2
    assert (
        eval_localization(root, "--out", str(tmp_path), "--predictions", "P.npz", "--baseline", "centre") == 2
    )
    assert "exactly one" in capsys.readouterr().err
