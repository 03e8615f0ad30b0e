"""The Pascal VOC layout: `avssl synth --layout voc` written and read back (ids, palette indices, the void
band, 1-based inclusive boxes), and every bad input named in one AnnotationError."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from avssl.cli import main
from avssl.data.annotations import AnnotationError
from avssl.data.datasets.voc import (
    VOC_CLASSES,
    VOID,
    VOCDataset,
    is_voc_root,
    read_voc_annotation,
    voc_colormap,
    voc_root,
    write_palette_png,
)
from avssl.data.synthetic.images import ImageSynthSpec, class_folder, render_image
from avssl.data.synthetic.voc import voc_box, void_band, write_voc

SPEC = ImageSynthSpec(size=32, num_classes=3, objects=(1, 3), seed=4)


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return write_voc(tmp_path_factory.mktemp("voc") / "VOC2012", {"train": 5, "val": 3}, spec=SPEC)


def test_colormap_is_the_devkits() -> None:
    cmap = voc_colormap()
    assert cmap[0].tolist() == [0, 0, 0] and cmap[1].tolist() == [128, 0, 0]
    assert cmap[15].tolist() == [192, 128, 128] and cmap[255].tolist() == [224, 224, 192]


def test_round_trip_ids_masks_boxes(voc) -> None:
    train, val = VOCDataset(voc, "train"), VOCDataset(voc, "val", task="main")
    assert train.ids == [f"2007_{i:06d}" for i in range(5)] and val.ids == [
        f"2007_{i:06d}" for i in range(5, 8)
    ]
    assert train.classes == tuple(class_folder(c) for c in range(3)) and train.num_classes == 3
    for i, item_id in enumerate(train.ids):
        # the writer's own scene, rendered again from its seed: the reader must give back exactly it
        _, instances, ann = render_image(SPEC, SPEC.seed * 1_000_003 + 0 * 100_003 + i, trap=True)
        truth = np.zeros(instances.shape, np.uint8)
        for k, obj in enumerate(ann["objects"]):
            truth[instances == k + 1] = obj["class"] + 1
        mask = train.mask(i)
        with Image.open(voc / "SegmentationClass" / f"{item_id}.png") as png:
            assert png.mode == "P" and png.getpalette()[: 3 * 256] == voc_colormap().reshape(-1).tolist()
        kept = mask != VOID
        assert np.array_equal(mask[kept], truth[kept])  # indices, not colours
        assert np.array_equal(~kept, void_band(truth, 1))  # 255 exactly on the band along the outlines
        assert (~kept).any() and train.image(i).shape == (32, 32, 3)
        objects = train.annotation(i).objects
        assert [o.label for o in objects] == [o["class"] for o in ann["objects"]]
        assert [list(o.box) for o in objects] == [o["box"] for o in ann["objects"]]  # back to 0-based
        assert not any(o.difficult for o in objects)


def test_boxes_are_written_one_based_inclusive(voc) -> None:
    assert voc_box([0.0, 3.0, 10.0, 12.0]) == [1, 4, 10, 12]  # pixels 0..9 → 1..10
    xml = (voc / "Annotations" / "2007_000000.xml").read_text()
    first = read_voc_annotation(
        voc / "Annotations" / "2007_000000.xml", tuple(class_folder(c) for c in range(3))
    )
    x0, y0, x1, y1 = (int(v) for v in first.objects[0].box)
    assert f"<xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax>" in xml
    assert first.filename == "2007_000000.jpg" and first.size == (32, 32)


def test_void_band_marks_both_sides_of_an_outline() -> None:
    labels = np.zeros((6, 6), np.uint8)
    labels[2:4, 2:4] = 1
    band = void_band(labels, 1)
    assert band[1:5, 1:5].all() and band.sum() == 16 and not void_band(labels, 0).any()


def test_roots_and_the_synth_command(tmp_path, voc) -> None:
    devkit = tmp_path / "VOCdevkit"
    shutil.copytree(voc, devkit / "VOC2012")
    assert voc_root(tmp_path) == devkit / "VOC2012" == voc_root(devkit)
    assert not is_voc_root(tmp_path / "nothing") and not is_voc_root("")
    out = tmp_path / "synth"
    assert (
        main(["synth", "--layout", "voc", "--out", str(out), "--n", "4", "--size", "32", "--classes", "3"])
        == 0
    )
    assert len(VOCDataset(out, "train")) == 3 and len(VOCDataset(out, "val", task="main")) == 1
    (devkit / "VOC2012" / "classes.txt").unlink()
    assert VOCDataset(devkit, "train", task="main").classes == VOC_CLASSES  # the download: the 20 classes


def _copy(voc, tmp_path):
    return shutil.copytree(voc, tmp_path / "VOC2012")


def test_a_mask_of_another_size_is_named(voc, tmp_path) -> None:
    root = _copy(voc, tmp_path)
    write_palette_png(root / "SegmentationClass" / "2007_000001.png", np.zeros((32, 30), np.uint8))
    with pytest.raises(AnnotationError, match=r"2007_000001\.png: mask is 30x32 but its image is 32x32"):
        VOCDataset(root, "train").mask(1)


def test_an_unknown_palette_index_is_named(voc, tmp_path) -> None:
    root = _copy(voc, tmp_path)
    bad = np.zeros((32, 32), np.uint8)
    bad[0, 0], bad[1, 1] = 7, VOID
    write_palette_png(root / "SegmentationClass" / "2007_000002.png", bad)
    with pytest.raises(
        AnnotationError, match=r"2007_000002\.png: indices \[7\] are no class \(expected 0\.\.3"
    ):
        VOCDataset(root, "train").mask(2)


def test_an_rgb_mask_is_refused(voc, tmp_path) -> None:
    root = _copy(voc, tmp_path)
    Image.new("RGB", (32, 32)).save(root / "SegmentationClass" / "2007_000000.png")
    with pytest.raises(AnnotationError, match="not a palette PNG"):
        VOCDataset(root, "train").mask(0)


def test_a_listed_but_missing_file_is_named(voc, tmp_path) -> None:
    root = _copy(voc, tmp_path)
    (root / "JPEGImages" / "2007_000006.jpg").unlink()
    with pytest.raises(
        AnnotationError, match=r"2007_000006\.jpg: listed in .*val\.txt but missing \(1 files"
    ):
        VOCDataset(root, "val")
    with pytest.raises(AnnotationError, match=r"test\.txt: split file not found"):
        VOCDataset(root, "test")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<annotation><size><width>32</width>", "malformed XML at line 1"),
        ("<annotation><filename>a.jpg</filename></annotation>", "missing <size>"),
        (
            "<annotation><filename>a.jpg</filename><size><width>32</width><height>32</height></size>"
            "<object><name>zebra</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax><ymax>4</ymax>"
            "</bndbox></object></annotation>",
            "object 1: unknown class 'zebra'",
        ),
        (
            "<annotation><filename>a.jpg</filename><size><width>32</width><height>32</height></size>"
            "<object><name>bee</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>40</xmax><ymax>4</ymax>"
            "</bndbox></object></annotation>",
            "object 1: box .* outside the 32x32 image",
        ),
        (
            "<annotation><filename>a.jpg</filename><size><width>32</width><height>32</height></size>"
            "<object><name>bee</name><bndbox><xmin>1</xmin><ymin>x</ymin><xmax>4</xmax><ymax>4</ymax>"
            "</bndbox></object></annotation>",
            "object 1: <ymin> 'x' is not a number",
        ),
    ],
)
def test_malformed_xml_is_named(voc, tmp_path, text, problem) -> None:
    root = _copy(voc, tmp_path)
    (root / "Annotations" / "2007_000003.xml").write_text(text)
    with pytest.raises(AnnotationError, match=r"2007_000003\.xml: " + problem):
        VOCDataset(root, "train", task="main").annotation(3)
