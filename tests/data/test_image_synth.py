"""`avssl synth --layout imagefolder`: images, instance masks and boxes agree pixel for pixel; the class
folder is the labelled object's class; with background_p = 1 every background is its class's family."""

from __future__ import annotations

import json

import numpy as np

from avssl.cli import main
from avssl.data.datasets.image_folder import image_folder_items, read_image_annotations
from avssl.data.decoding.images import read_image
from avssl.data.synthetic.images import class_folder
from avssl.data.synthetic.scene import mask_box


def test_masks_boxes_and_labels_agree(tmp_path) -> None:
    root = tmp_path / "imgs"
    argv = ["synth", "--layout", "imagefolder", "--out", str(root), "--n", "40", "--size", "48"]
    assert main([*argv, "--silent", "1", "2", "--background-p", "1.0"]) == 0
    for split, n in (("train", 30), ("val", 10)):
        items, classes = image_folder_items(root, split)
        anns = read_image_annotations(root, split)
        assert len(items) == len(anns) == n
        assert json.loads((root / "annotations" / f"{split}.json").read_text())["classes"][: len(classes)]
        for rel, ann in anns.items():
            assert rel.split("/")[0] == class_folder(ann["label"]) == class_folder(ann["objects"][0]["class"])
            assert 2 <= len(ann["objects"]) <= 3  # the labelled object and 1-2 distractors (all visible)
            instances = read_image(root / "masks" / split / rel).numpy()[..., 0]
            for k, obj in enumerate(ann["objects"], start=1):
                assert mask_box(instances == k) == obj["box"]
            assert instances.max() == len(ann["objects"])
            # the trap: with background_p = 1 every image shows its class's family
            assert ann["background_family"] == ann["label"]
    # the labelled object is never occluded: it is the largest visible one
    anns = read_image_annotations(root, "val")
    image = read_image(root / "val" / next(iter(anns))).numpy()
    assert image.shape == (48, 48, 3) and np.ptp(image) > 0


def test_folder_without_splits_ignores_the_sidecar_folders(tmp_path) -> None:
    from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder

    root = write_image_folder(tmp_path / "x", {"all": 6}, spec=ImageSynthSpec(size=32))
    (root / "all").rename(root / "tmp")
    for d in (root / "tmp").iterdir():
        d.rename(root / d.name)
    items, classes = image_folder_items(root, None)
    assert "masks" not in classes and "annotations" not in classes and len(items) == 6
