"""The LEVIR-CD / WHU-CD layout: `avssl synth --layout levir-cd` written and read back, every bad input named
in one AnnotationError, bad pairs counted in training, and the synthetic set's irrelevant changes unlabelled."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from avssl.cli import main
from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import BadItem
from avssl.data.datasets.change import (
    ChangeDetectionDataset,
    change_pairs,
    is_change_root,
    read_change_label,
)
from avssl.data.synthetic.change import ChangeSynthSpec, render_pair, write_change_detection

SPEC = ChangeSynthSpec(size=32, seed=3)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_change_detection(tmp_path_factory.mktemp("cd") / "LEVIR-CD", {"train": 4, "test": 3}, SPEC)


@pytest.fixture
def copy(tree, tmp_path):
    return shutil.copytree(tree, tmp_path / "LEVIR-CD")


def test_round_trip(tree) -> None:
    assert is_change_root(tree) and not is_change_root(tree / "train")
    train = ChangeDetectionDataset(tree, "train")
    assert [p.name for p in train.pairs] == [f"train_{i}.png" for i in range(1, 5)]
    gt = json.loads((tree / "synth_gt.json").read_text())
    for i in range(len(train)):
        # the writer's pair, rendered again from its seed ("test" sorts after "train": index 1)
        a, b, label, record = render_pair(SPEC, SPEC.seed * 1_000_003 + 1 * 100_003 + i)
        got_a, got_b, got_label = train.pair(i)
        assert np.array_equal(got_a, a) and np.array_equal(got_b, b) and np.array_equal(got_label, label)
        assert (
            got_label.dtype == bool
            and gt["items"][f"train/train_{i + 1}.png"]["changed_pixels"] == label.sum()
        )
        sample = train[i]
        assert sample["image_a"].shape == (3, 32, 32) and sample["label"].shape == (32, 32)
    with Image.open(tree / "train" / "label" / "train_1.png") as png:
        assert png.mode == "L" and set(np.unique(np.asarray(png)).tolist()) <= {0, 255}
    assert len(ChangeDetectionDataset(tree, "test")) == 3


def test_labels_0_1_and_grey_rgb_are_read(tmp_path) -> None:
    mask = np.zeros((4, 5), np.uint8)
    mask[1, 2] = 1
    Image.fromarray(mask).save(tmp_path / "01.png")
    Image.fromarray(np.stack([mask * 255] * 3, -1)).save(tmp_path / "rgb.png")
    for name in ("01.png", "rgb.png"):
        assert read_change_label(tmp_path / name).sum() == 1


def _bad(copy, what: str):
    a = copy / "train" / "A" / "train_2.png"
    if what in ("B", "label"):
        (copy / "train" / what / "train_2.png").unlink()
        return copy / "train" / what / "train_2.png", "missing: the pair of"
    if what in ("size_B", "size_label"):
        folder = "B" if what == "size_B" else "label"
        path = copy / "train" / folder / "train_2.png"
        with Image.open(path) as img:
            img.resize((16, 32), Image.NEAREST).save(path)
        return path, "is 16x32 but its A image train_2.png is 32x32"
    if what == "values":
        path = copy / "train" / "label" / "train_2.png"
        Image.fromarray(np.full((32, 32), 128, np.uint8)).save(path)
        return path, "label values [128] are not a binary change mask"
    if what == "colour":
        path = copy / "train" / "label" / "train_2.png"
        rgb = np.zeros((32, 32, 3), np.uint8)
        rgb[0, 0] = (255, 0, 0)
        Image.fromarray(rgb).save(path)
        return path, "label is a colour image"
    a.write_bytes(b"not a png")
    return a, "not a readable image"


@pytest.mark.parametrize("what", ["B", "label", "size_B", "size_label", "values", "colour", "unreadable"])
def test_every_bad_input_is_one_error_naming_the_file(copy, what) -> None:
    path, problem = _bad(copy, what)
    with pytest.raises(AnnotationError) as err:
        dataset = ChangeDetectionDataset(copy, "train")  # missing files: when the dataset is built
        dataset.pair(1)
    assert err.value.path == str(path) and problem in str(err.value)
    if what not in ("B", "label"):  # eval mode raises too; training counts the pair and loads a stand-in
        with pytest.raises(AnnotationError):
            ChangeDetectionDataset(copy, "train", mode="eval")[1]
        train = ChangeDetectionDataset(copy, "train", mode="train", seed=1)
        sample = train[(1, 0)]
        assert not isinstance(sample, BadItem) and sample["index"] != 1
        assert [b.path for b in sample["replaced"]] == [str(path)] and len(train.bad) == 1


def test_missing_split_or_empty_folder(copy) -> None:
    with pytest.raises(AnnotationError, match="no 'val' split here"):
        change_pairs(copy, "val")
    (copy / "val" / "A").mkdir(parents=True)
    with pytest.raises(AnnotationError, match="holds no images"):
        change_pairs(copy, "val")


def test_irrelevant_changes_are_not_labelled() -> None:
    spec = ChangeSynthSpec(size=48, seed=0)
    for seed in range(6):
        a, b, label, record = render_pair(spec, seed, changes=0)
        assert not label.any()  # illumination, colour, smooth field, noise, 1-px shift only
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 3  # ... which do change the pixels
        unshifted = ChangeSynthSpec(size=48, max_shift=0)
        label0 = render_pair(unshifted, seed)[2]  # the same place with its structural changes
        clean_a, clean_b, clean_label, clean = render_pair(unshifted, seed, nuisance=False)
        assert np.array_equal(label0, clean_label)  # the label ignores illumination, colour and noise
        assert clean["shift"] == [0, 0] and clean_label.any() == any(
            st["change"] != "none" for st in clean["structures"]
        )
        assert np.array_equal((clean_a != clean_b).any(-1), clean_label)  # = the structures' pixels exactly
    # every nuisance happens over a few pairs: shifts of at most 1 px, gains away from 1
    records = [render_pair(spec, s)[3] for s in range(12)]
    assert {tuple(r["shift"]) for r in records} - {(0, 0)}
    assert all(max(abs(v) for v in r["shift"]) <= 1 for r in records)
    assert max(abs(g - 1) for r in records for g in r["gain"]) > 0.05


def test_synth_is_deterministic_and_the_cli_writes_the_layout(tmp_path, capsys) -> None:
    first = render_pair(SPEC, 7)
    assert all(np.array_equal(x, y) for x, y in zip(first[:3], render_pair(SPEC, 7)[:3]))
    out = tmp_path / "synth"
    assert main(["synth", "--layout", "levir-cd", "--out", str(out), "--n", "10", "--size", "32"]) == 0
    counts = {s: len(ChangeDetectionDataset(out, s)) for s in ("train", "val", "test")}
    assert counts == {"train": 7, "val": 1, "test": 2}
    assert "levir-cd layout" in capsys.readouterr().out
    assert ChangeDetectionDataset(out, "val").pair(0)[0].shape == (32, 32, 3)
