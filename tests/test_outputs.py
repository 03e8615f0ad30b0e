"""avssl.outputs: atomic JSON / npz writes (a failed write leaves the old file and no temp file), free
names for files that must not be overwritten, and one output folder per input file, stable across runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avssl.outputs import claim_output_dir, free_path, path_tag, save_npz, write_json


def test_failed_writes_keep_the_old_file(tmp_path):
    target = tmp_path / "sub" / "r.json"
    write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    npz = tmp_path / "x.npz"
    save_npz(npz, a=np.arange(3))
    with pytest.raises(ValueError):
        save_npz(npz, a=np.arange(3), b=np.array([[1], [2, 3]], dtype=object).astype(float))
    assert np.load(npz)["a"].tolist() == [0, 1, 2] and sorted(p.name for p in tmp_path.iterdir()) == [
        "sub",
        "x.npz",
    ]
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["r.json"]


def test_free_path(tmp_path):
    assert free_path(tmp_path / "p.npz") == tmp_path / "p.npz"
    (tmp_path / "p.npz").touch()
    (tmp_path / "p-2.npz").touch()
    assert free_path(tmp_path / "p.npz") == tmp_path / "p-3.npz"


def test_one_folder_per_video_stable_across_runs(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a, b = tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4"
    out = tmp_path / "out"
    first_a, first_b = claim_output_dir(out, a), claim_output_dir(out, b)
    assert first_a == out / "clip" and first_b == out / f"clip-{path_tag(b)}"
    # reruns, in either order, keep each video's folder
    assert claim_output_dir(out, b) == first_b and claim_output_dir(out, a) == first_a
    assert path_tag(a) != path_tag(b) and len(path_tag(a)) == 8
    # a folder written before the marker existed is taken over by the next video of that stem
    (out / "old").mkdir()
    assert claim_output_dir(out, tmp_path / "old.mp4") == out / "old"
