"""The COCO layout: `avssl synth --layout coco` written and read back (json ↔ boxes, category ids, RLE
masks that pycocotools decodes to the instance masks), and every bad input named in one AnnotationError."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from avssl.cli import main
from avssl.data.annotations import AnnotationError
from avssl.data.datasets.coco import COCODataset, annotation_file, is_coco_root
from avssl.data.synthetic.coco import rle_encode, write_coco
from avssl.data.synthetic.images import ImageSynthSpec, class_folder, render_image

SPEC = ImageSynthSpec(size=32, num_classes=3, objects=(1, 3), seed=4)


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    return write_coco(tmp_path_factory.mktemp("coco") / "coco", {"train": 5, "val": 3}, spec=SPEC)


def test_layout_as_downloaded(coco) -> None:
    assert sorted(p.name for p in coco.iterdir()) == ["annotations", "train2017", "val2017"]
    assert sorted(p.name for p in (coco / "annotations").iterdir()) == [
        "instances_train2017.json",
        "instances_val2017.json",
    ]
    assert sorted(p.name for p in (coco / "val2017").iterdir()) == [f"{i:012d}.jpg" for i in (6, 7, 8)]
    assert is_coco_root(coco) and not is_coco_root(coco / "train2017")


def test_round_trip_boxes_categories_masks(coco) -> None:
    from pycocotools.coco import COCO

    for s, split in enumerate(("train", "val")):
        data = COCODataset(coco, split)
        assert data.classes == tuple(class_folder(c) for c in range(3))
        raw = json.loads(annotation_file(coco, split).read_text())
        assert [c["id"] for c in raw["categories"]] == [1, 2, 3]
        api = COCO(str(annotation_file(coco, split)))
        for i, entry in enumerate(data.images):
            # the writer's own scene, rendered again from its seed: the files must give back exactly it
            image, instances, ann = render_image(SPEC, SPEC.seed * 1_000_003 + s * 100_003 + i, trap=True)
            assert entry.size == (32, 32) and data.image(i).shape == image.shape
            target = data.target(i)
            assert target["labels"].tolist() == [o["class"] for o in ann["objects"]]
            assert target["boxes"].tolist() == [o["box"] for o in ann["objects"]]
            anns = sorted(api.loadAnns(api.getAnnIds(imgIds=[entry.id])), key=lambda a: a["id"])
            assert [a["category_id"] for a in anns] == [o["class"] + 1 for o in ann["objects"]]
            for k, a in enumerate(anns):
                truth = instances == k + 1
                assert np.array_equal(api.annToMask(a).astype(bool), truth)  # RLE decodes to the mask
                x0, y0, x1, y1 = ann["objects"][k]["box"]
                assert a["bbox"] == [x0, y0, x1 - x0, y1 - y0] and a["area"] == truth.sum()
                assert a["iscrowd"] == 0


def test_rle_encode_matches_pycocotools() -> None:
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(0)
    for mask in (rng.uniform(size=(7, 5)) < 0.4, np.ones((3, 4), bool), np.zeros((2, 2), bool)):
        rle = rle_encode(mask)
        assert sum(rle["counts"]) == mask.size
        decoded = mask_utils.decode(mask_utils.frPyObjects(rle, *rle["size"]))
        assert np.array_equal(decoded.astype(bool), mask)
    assert rle_encode(np.array([[1, 0], [1, 1]], bool))["counts"] == [0, 2, 1, 1]  # column-major, 0s first


def test_synth_cli_writes_coco(tmp_path, capsys) -> None:
    out = tmp_path / "c"
    assert main(["synth", "--layout", "coco", "--out", str(out), "--n", "4", "--size", "40"]) == 0
    assert "coco layout" in capsys.readouterr().out
    train, val = COCODataset(out, "train2017"), COCODataset(out, "val2017")
    assert (len(train), len(val)) == (3, 1) and train.images[0].size == (40, 40)


def _broken(coco, tmp_path, edit) -> str:
    """A copy of the tree with the val json edited by `edit(data)`; the error message of reading it."""
    root = tmp_path / "broken"
    shutil.copytree(coco, root)
    path = annotation_file(root, "val")
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError) as err:
        COCODataset(root, "val")
    return str(err.value)


def _set_box(data, box) -> None:
    data["annotations"][0]["bbox"] = box


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.pop("categories"), "no 'categories' list"),
        (lambda d: d.pop("images"), "no 'images' list"),
        (lambda d: d.pop("annotations"), "no 'annotations' list"),
        (lambda d: _set_box(d, [30.0, 2.0, 10.0, 5.0]), "outside the 32x32 image"),
        (lambda d: _set_box(d, [-3.0, 2.0, 10.0, 5.0]), "outside the 32x32 image"),
        (lambda d: _set_box(d, [3.0, 2.0, 0.0, 5.0]), "non-positive width or height"),
        (lambda d: _set_box(d, [3.0, 2.0, 4.0, -1.0]), "non-positive width or height"),
        (lambda d: d["annotations"][0].update(category_id=99), "category_id 99 is no category"),
        (lambda d: d["annotations"][0].update(image_id=12345), "image_id 12345 is no image"),
        (lambda d: d["images"][0].pop("width"), "images[0]: missing 'width'"),
    ],
)
def test_bad_json_is_one_error_naming_the_file(coco, tmp_path, edit, expected) -> None:
    message = _broken(coco, tmp_path, edit)
    assert message.startswith(str(tmp_path / "broken" / "annotations" / "instances_val2017.json"))
    assert expected in message


def test_missing_image_file_is_named(coco, tmp_path) -> None:
    root = tmp_path / "missing"
    shutil.copytree(coco, root)
    (root / "val2017" / "000000000007.jpg").unlink()
    with pytest.raises(AnnotationError, match=r"000000000007\.jpg: listed in .*instances_val2017\.json"):
        COCODataset(root, "val")
    (root / "annotations" / "instances_train2017.json").write_text("{")
    with pytest.raises(AnnotationError, match=r"instances_train2017\.json: malformed JSON"):
        COCODataset(root, "train")
