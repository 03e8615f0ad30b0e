"""`avssl synth --layout ucf101|hmdb51|kinetics`: the motion-defined action set is read by its own layout
reader and accepted by `avssl check-data`; the background trap holds (train backgrounds follow the class,
test backgrounds do not); the background-swapped copy keeps each test clip's moving foreground over another
test clip's background, and its masks cover exactly the moving object."""

from __future__ import annotations

import colorsys
import json

import numpy as np
import pytest

from avssl.cli import main
from avssl.data.check import check_dataset
from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipDataset, ClipSpec
from avssl.data.decoding import read_clip
from avssl.data.synthetic.action import (
    MOTIONS,
    SWAPPED_DIR,
    ActionSynthSpec,
    Foreground,
    family_hue,
    read_masks,
    trajectory,
    write_action_synthetic,
)

SPEC = ActionSynthSpec(
    num_classes=6, clips_per_class=8, size=64, frames=16, fps=8.0, background_p=0.8, seed=3
)


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return write_action_synthetic("ucf101", tmp_path_factory.mktemp("ucf"), SPEC)


def _gt(root):
    return json.loads((root / "synth_gt.json").read_text())


def _frames(path):
    clip = read_clip(str(path), 0.0, SPEC.frames / SPEC.fps, fps=SPEC.fps, size=None, sample_rate=None)
    return clip.frames.numpy().astype(np.float32)  # (T, H, W, 3)


def test_layout_is_read_by_its_reader_and_check_data(ucf):
    gt = _gt(ucf)
    train, test = load_index("ucf101", ucf, "train"), load_index("ucf101", ucf, "test")
    assert (
        train.classes
        == gt["class_names"]
        == ["MoveLeft", "MoveRight", "MoveUp", "MoveDown", "CircleCw", "CircleCcw"]
    )
    assert len(train.items) == 36 and len(test.items) == 12 and not train.problems
    for item in train.items + test.items:
        assert gt["items"][item.id]["label"] == item.label
        assert gt["items"][item.id]["split"] == item.meta["split"]
    # splits 2 and 3 partition the same clips differently
    test2 = load_index("ucf101", ucf, "test", split_index=2)
    assert len(test2.items) == 12 and not {i.id for i in test2.items} & {i.id for i in test.items}
    assert check_dataset(ucf, "ucf101")["ok"]
    assert check_dataset(ucf / SWAPPED_DIR, "ucf101")["ok"]
    swapped = load_index("ucf101", ucf / SWAPPED_DIR, "test")
    assert [i.id for i in swapped.items] == [i.id for i in test.items]
    assert load_index("ucf101", ucf / SWAPPED_DIR, "train").items == []
    sample = ClipDataset(test.items, ClipSpec(duration_s=1.0, fps=8, size=(64, 64)), mode="eval")[0]
    assert sample["video"].shape == (8, 3, 64, 64)


def _hue_family(frame):
    """The background family whose hue is nearest the frame's median colour."""
    r, g, b = np.median(frame.reshape(-1, 3), axis=0) / 255
    hue = colorsys.rgb_to_hsv(r, g, b)[0]
    dist = [
        min(abs(hue - family_hue(k, SPEC.num_classes)), 1 - abs(hue - family_hue(k, SPEC.num_classes)))
        for k in range(SPEC.num_classes)
    ]
    return int(np.argmin(dist))


def test_background_trap_train_follows_class_test_does_not(ucf):
    gt = _gt(ucf)["items"]
    rate = {}
    for split in ("train", "test"):
        items = load_index("ucf101", ucf, split).items
        rate[split] = np.mean([_hue_family(_frames(i.path)[0]) == i.label for i in items])
        families = [gt[i.id]["background"]["family"] for i in items]
        if split == "test":
            assert families == [None] * len(items)
        else:  # drawn with probability 0.8: 36 clips, far from chance either way
            assert 0.55 <= np.mean([f == i.label for f, i in zip(families, items)]) <= 0.97
            assert all(f in (None, i.label) for f, i in zip(families, items))
    # measured on the decoded pixels: a background-colour classifier is right on train (p + (1 - p) / K
    # expected), near chance (1 / K) on test; 12 test clips, so the bound leaves room for the draw
    assert rate["train"] >= 0.7 and rate["test"] <= 0.5 and rate["train"] - rate["test"] >= 0.35, rate


def test_swapped_copy_keeps_the_foreground_and_masks_cover_the_moving_object(ucf):
    gt, swapped_gt = _gt(ucf)["items"], _gt(ucf / SWAPPED_DIR)["items"]
    test = load_index("ucf101", ucf, "test").items
    assert sorted(swapped_gt) == sorted(i.id for i in test)
    labels = {i.id: i.label for i in test}
    for item in test:
        entry = swapped_gt[item.id]
        donor = entry["background_from"]
        assert donor != item.id and donor in labels and labels[donor] != item.label
        masks = read_masks(ucf, item.id)
        assert masks.shape == (SPEC.frames, SPEC.size, SPEC.size)
        assert np.array_equal(masks, read_masks(ucf / SWAPPED_DIR, item.id))
        assert masks.sum(axis=(1, 2)).min() > 20
        normal, swapped = _frames(item.path), _frames(ucf / SWAPPED_DIR / entry["path"])
        donor_frames = _frames(ucf / gt[donor]["path"])
        donor_masks = read_masks(ucf, donor)
        inside = _erode(masks)
        outside = _erode(~masks & ~donor_masks)
        # inside the mask: the same moving object; outside: the donor's background, not the clip's own
        assert np.abs(swapped - normal)[inside].mean() < 12
        assert np.abs(swapped - donor_frames)[outside].mean() < 12
        assert np.abs(swapped - normal)[outside].mean() > 25
        assert entry["motion"] == MOTIONS[item.label]


def test_mask_centroid_follows_the_motion(ucf):
    """The masks move as the class says: the centroid travels left / right / up / down, circles keep
    their distance from the orbit's centre, still objects stay put."""
    test = load_index("ucf101", ucf, "test").items
    for item in test:
        masks = read_masks(ucf, item.id)
        first, last = (np.argwhere(masks[k]).mean(0) for k in (0, SPEC.frames - 1))  # (y, x)
        dy, dx = last - first
        motion = MOTIONS[item.label]
        expected = {"left": dx < -15, "right": dx > 15, "up": dy < -15, "down": dy > 15}
        if motion in expected:
            assert expected[motion], (motion, dx, dy)
        # and the mask is the object where `trajectory` puts it (centre within a pixel)
        for k in (0, SPEC.frames // 2, SPEC.frames - 1):
            x, y, _ = trajectory(_foreground(ucf, item.id), k / (SPEC.frames - 1))
            cy, cx = np.argwhere(masks[k]).mean(0) + 0.5
            assert abs(cx - x * SPEC.size) < 1.0 and abs(cy - y * SPEC.size) < 1.0


def _foreground(root, item_id):
    entry = _gt(root)["items"][item_id]
    return Foreground(**entry["foreground"])


def _erode(mask):
    """Pixels whose 3×3 neighbourhood lies inside `mask` (away from codec ringing at the edges)."""
    m = mask.copy()
    for axis in (1, 2):
        for shift in (1, -1):
            m &= np.roll(mask, shift, axis=axis)
    return m


@pytest.mark.parametrize("layout", ["hmdb51", "kinetics"])
def test_cli_writes_hmdb51_and_kinetics(tmp_path, layout, capsys):
    out = tmp_path / layout
    args = ["synth", "--layout", layout, "--out", str(out), "--n", "12", "--classes", "6", "--size", "32"]
    assert main([*args, "--duration", "1", "--fps", "8", "--background-p", "1.0"]) == 0
    assert "wrote 12 synthetic items" in capsys.readouterr().out
    gt = _gt(out)
    assert gt["spec"]["background_p"] == 1.0 and gt["spec"]["clips_per_class"] == 2
    train, test = load_index(layout, out, "train"), load_index(layout, out, "test")
    assert len(train.items) == 6 and len(test.items) == 6 and train.classes == gt["class_names"]
    assert all(gt["items"][i.id]["label"] == i.label for i in train.items + test.items)
    assert all(gt["items"][i.id]["background"]["family"] == i.label for i in train.items)  # p = 1
    suffix = ".mp4" if layout == "kinetics" else ".avi"
    assert all(i.path.endswith(suffix) for i in train.items)
    assert main(["check-data", str(out), "--layout", layout]) == 0
    assert main(["check-data", str(out / SWAPPED_DIR), "--layout", layout]) == 0
    assert len(load_index(layout, out / SWAPPED_DIR, "test").items) == 6
    if layout == "hmdb51":
        assert len(load_index(layout, out, "test", split_index=2).items) == 6


def test_bad_specs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="num_classes"):
        write_action_synthetic("ucf101", tmp_path, ActionSynthSpec(num_classes=11))
    with pytest.raises(ValueError, match="background_p"):
        write_action_synthetic("ucf101", tmp_path, ActionSynthSpec(background_p=1.5))
    with pytest.raises(ValueError, match="unknown action layout"):
        write_action_synthetic("diving48", tmp_path)
