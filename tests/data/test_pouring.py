"""Pouring in the layout CARL's preparation writes ({train,val}.pkl + videos/*.mp4): the .pkl is read without
running code (tensors, lists, dicts only; anything else refused with the file named), missing videos are
skipped and listed, and `avssl eval frames` scores a run on it, one frame per label."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

from avssl.cli import main
from avssl.data.annotations import AnnotationError
from avssl.data.datasets import load_index
from avssl.data.media_writer import write_video


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.fixture(scope="module")
def pouring_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pouring")
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("val", 3)):
        entries = []
        for k in range(count):
            name = f"{split}_{k}"
            length = int(rng.integers(12, 20))
            labels = np.sort(rng.integers(0, 3, length))
            labels[0], labels[-1] = 0, 2
            frames = [np.full((32, 32, 3), 40 + 80 * int(p), np.uint8) for p in labels]
            write_video(root / "videos" / f"{name}.mp4", frames, 25.0)
            entries.append(
                {"id": k, "name": name, "video_file": f"videos/{name}.mp4", "seq_len": length,
                 "frame_label": torch.from_numpy(labels).long()}
            )  # fmt: skip
        with open(root / f"{split}.pkl", "wb") as f:
            pickle.dump(entries, f)
    return root


def test_reads_the_release_lists_without_running_code(pouring_root, tmp_path) -> None:
    train, val = load_index("pouring", pouring_root, "train"), load_index("pouring", pouring_root, "val")
    assert [i.id for i in train.items] == [f"train_{k}" for k in range(4)] and len(val.items) == 3
    item = val.items[0]
    assert (
        item.label == 0
        and item.meta["frame_rate"] == 25.0
        and item.end_s == len(item.meta["phase_labels"]) / 25
    )
    bad = tmp_path / "bad"
    (bad / "videos").mkdir(parents=True)
    with open(bad / "train.pkl", "wb") as f:
        pickle.dump([{"video_file": "videos/x.mp4", "frame_label": [0, 1]}, _Evil()], f)
    with pytest.raises(
        AnnotationError, match=r"train\.pkl: not a readable list of videos \(refused to load posix.system"
    ):
        load_index("pouring", bad, "train")
    with open(bad / "train.pkl", "wb") as f:
        pickle.dump([{"video_file": "videos/x.mp4", "frame_label": [0, 1]}, {"name": "y"}], f)
    index = load_index("pouring", bad, "train")
    assert not index.items and "videos/x.mp4 is not on disk" in index.problems[0]
    assert "entry 1 has no video_file / frame_label" in index.problems[1]
    with pytest.raises(AnnotationError, match=r"val\.pkl: missing"):
        load_index("pouring", bad, None)


def test_eval_frames_on_pouring(pouring_root, tmp_path) -> None:
    from recipes.carl import main as carl
    from tests.tasks.test_video_moco import ROOT, TOY_RECIPE_ARGS

    run = tmp_path / "carl"
    carl(["--config", str(ROOT / "recipes" / "configs" / "carl.yaml"), f"output_dir={run}", *TOY_RECIPE_ARGS])
    out = tmp_path / "frames.json"
    args = ["eval", "frames", "--run", str(run), "--data", str(pouring_root), "--layout", "pouring"]
    assert main([*args, "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert list(got["per_action"]) == ["0"] and got["per_action"]["0"]["num_val_videos"] == 3
    assert 0 <= got["classification"] <= 100 and got["kendalls_tau"] is not None
