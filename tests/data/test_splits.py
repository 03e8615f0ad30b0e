"""`folder` and `manifest` layouts honour a `split` column (labels.csv / manifest CSV / JSONL): the split's
items only, class indices shared by the splits, and an unknown split named with its file."""

from __future__ import annotations

import json

import pytest

from avssl.data.annotations import AnnotationError
from avssl.data.datasets import load_index


def _videos(root, names):
    for name in names:
        path = root / f"{name}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # the index reads names only; media are decoded later


def test_folder_labels_csv_split_column(tmp_path):
    _videos(tmp_path, ["a", "b", "c", "d", "e"])
    (tmp_path / "labels.csv").write_text(
        "path,label,split\na.mp4,dog,train\nb.mp4,cat,train\nc.mp4,bird,test\nd,dog,test\ne,cat,train\n"
    )
    train, test = load_index("folder", tmp_path, "train"), load_index("folder", tmp_path, "test")
    assert [i.id for i in train.items] == ["a", "b", "e"] and [i.id for i in test.items] == ["c", "d"]
    assert train.classes == test.classes == ["bird", "cat", "dog"]  # from every row: indices agree
    assert [i.label for i in test.items] == [0, 2]
    assert len(load_index("folder", tmp_path, None).items) == 5
    with pytest.raises(AnnotationError, match=r"labels\.csv.*'val'.*test, train"):
        load_index("folder", tmp_path, "val")


def test_folder_header_in_any_order_and_without_split_column(tmp_path):
    _videos(tmp_path, ["a", "b"])
    (tmp_path / "labels.csv").write_text("split,path,label\ntest,a,x\ntrain,b,y\n")
    assert [i.id for i in load_index("folder", tmp_path, "test").items] == ["a"]
    (tmp_path / "labels.csv").write_text("path,label\na,x\nb,y\n")
    assert len(load_index("folder", tmp_path, "test").items) == 2  # no split column: every video


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_manifest_split_column(tmp_path, suffix):
    rows = [
        {"path": "v/a.mp4", "label": "dog", "split": "train"},
        {"path": "v/b.mp4", "start": 2.0, "label": "cat", "split": "test"},
        {"path": "v/b.mp4", "start": 0.0, "end": 2.0, "label": "cat", "split": "train"},
        {"path": "v/c.mp4", "label": "bird", "split": "test"},
    ]
    manifest = tmp_path / f"manifest.{suffix}"
    if suffix == "jsonl":
        manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        cells = [[r["path"], r.get("start", ""), r.get("end", ""), r["label"], r["split"]] for r in rows]
        manifest.write_text(
            "path,start,end,label,split\n" + "".join(",".join(map(str, c)) + "\n" for c in cells)
        )
    train, test = load_index("manifest", manifest, "train"), load_index("manifest", manifest, "test")
    assert [(i.id, i.start_s) for i in train.items] == [("v/a", 0.0), ("v/b", 0.0)]
    assert [(i.id, i.start_s, i.label) for i in test.items] == [("v/b", 2.0, 1), ("v/c", 0.0, 0)]
    assert train.classes == test.classes == ["bird", "cat", "dog"]
    with pytest.raises(AnnotationError, match=rf"manifest\.{suffix}.*'val'"):
        load_index("manifest", manifest, "val")
