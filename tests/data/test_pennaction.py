"""Penn Action as released (frames/<id>/*.jpg, labels/<id>.mat) with TCC-style phase labels
(phases/<split>/<action>/<id>.npy): the synthetic set in that layout reads back with its truth, windows of a
frame-folder video take the frames under their sampling times, and bad input (a missing or damaged .mat, a
gap in the frame numbering, a frame count the .mat contradicts, an unreadable frame) is named."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipDataset, ClipSpec, read_frame_window
from avssl.data.datasets.pennaction import read_phases
from avssl.data.decoding import MediaError, read_image
from avssl.data.synthetic.phases import PHASES_PER_ACTION, PhaseSynthSpec, phase_track, write_phase_synthetic


@pytest.fixture(scope="module")
def penn_root(tmp_path_factory):
    spec = PhaseSynthSpec(n=9, num_classes=3, size=32, min_frames=12, max_frames=18, seed=1)
    return write_phase_synthetic(tmp_path_factory.mktemp("penn") / "Penn_Action", spec)


def test_synthetic_set_reads_back_with_its_truth(penn_root) -> None:
    truth = json.loads((penn_root / "synth_gt.json").read_text())
    train, val = load_index("pennaction", penn_root, "train"), load_index("pennaction", penn_root, "val")
    assert len(train.items) == 6 and len(val.items) == 3 and not train.problems
    assert [i.id for i in load_index("pennaction", penn_root, "test").items] == [i.id for i in val.items]
    assert train.classes == ["square_path", "triangle_path", "zigzag_path"]
    for item in train.items + val.items:
        entry = truth[item.id]
        assert item.meta["action"] == entry["action"] and item.meta["split"] == entry["split"]
        assert len(item.frames) == entry["frames"] and item.end_s == pytest.approx(entry["frames"] / 30.0)
        phases = read_phases(item.meta["phases"], len(item.frames))
        assert phases[0] == 0 and phases[-1] == PHASES_PER_ACTION - 1 and np.all(np.diff(phases) >= 0)
    with pytest.raises(ValueError, match="splits are train and val"):
        load_index("pennaction", penn_root, "holdout")


def test_phase_track_covers_every_phase_in_order() -> None:
    rng = np.random.default_rng(0)
    for frames in (6, 7, 30, 41):
        phase, along = phase_track(rng, frames)
        assert len(phase) == frames and set(phase.tolist()) == set(range(PHASES_PER_ACTION))
        assert np.all(np.diff(phase) >= 0) and np.all((along >= 0) & (along < 1))


def test_windows_take_the_frames_under_their_sampling_times(penn_root) -> None:
    item = load_index("pennaction", penn_root, "train").items[0]
    files = [read_image(f) for f in item.frames]
    native = read_frame_window(item, 0.0, item.end_s, None)  # the folder's rate: every frame once
    assert native.frames.shape[0] == len(files) and not native.padded
    assert all(torch.equal(native.frames[k], files[k]) for k in range(len(files)))
    half = read_frame_window(item, 2 / 30, 8 / 30, 15.0)  # 15 fps from 30: times (3 + 2k) / 30
    assert [torch.equal(half.frames[k], files[3 + 2 * k]) for k in range(4)] == [True] * 4
    late = read_frame_window(item, item.end_s - 2 / 30, 4 / 30, None)  # two frames past the end
    assert late.padded and late.num_valid_frames == 2 and torch.equal(late.frames[-1], files[-1])
    dataset = ClipDataset(
        [item], ClipSpec(duration_s=0.25, fps=8, size=(24, 24), sampler="start"), mode="eval"
    )
    sample = dataset[0]
    assert sample["video"].shape == (2, 3, 24, 24) and "audio" not in sample


def test_bad_input_is_skipped_and_named(penn_root, tmp_path) -> None:
    root = tmp_path / "Penn_Action"
    shutil.copytree(penn_root, root)
    ids = sorted(p.stem for p in (root / "labels").glob("*.mat"))
    (root / "labels" / f"{ids[0]}.mat").write_bytes(b"not a mat file")
    (root / "frames" / ids[1] / "000003.jpg").unlink()
    last = sorted((root / "frames" / ids[2]).glob("*.jpg"))[-1]
    last.unlink()  # now one frame fewer than the .mat's nframes
    (root / "labels" / f"{ids[3]}.mat").unlink()  # its phase file stays
    index = load_index("pennaction", root, None)
    assert len(index.items) == 5
    problems = "\n".join(index.problems)
    assert f"{ids[0]}.mat: not a readable MATLAB label file" in problems
    assert f"frames/{ids[1]}: frame 000003.jpg is missing" in problems
    assert "frames, the .mat says" in problems and f"no labels/{ids[3]}.mat for this phase file" in problems
    # an unreadable frame: the read names the file
    item = index.items[0]
    with open(item.frames[1], "wb") as f:
        f.write(b"broken")
    with pytest.raises(MediaError, match=r"000002\.jpg.*not a readable image"):
        read_frame_window(item, 0.0, item.end_s, None)
    shutil.rmtree(root / "labels")
    with pytest.raises(Exception, match="labels: missing"):
        load_index("pennaction", root, None)
