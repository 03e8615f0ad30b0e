"""The layout loaders give a synthetic set's items their scene's class when the layout has no classes, and
leave labelled items alone."""

from __future__ import annotations

import json

from avssl.data.datasets import load_index
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic


def test_unlabelled_layout_items_get_the_synthetic_class(tmp_path) -> None:
    write_synthetic("fairplay", tmp_path, SynthSpec(n=4, seed=2, size=32, duration_s=1.0, num_classes=3))
    gt = json.loads((tmp_path / "synth_gt.json").read_text())["items"]
    items = load_index("fairplay", tmp_path, None).items
    assert items and [i.label for i in items] == [int(gt[i.id]["label"]) for i in items]
    (tmp_path / "synth_gt.json").unlink()  # a real FAIR-Play download: no classes
    assert all(i.label is None for i in load_index("fairplay", tmp_path, None).items)
