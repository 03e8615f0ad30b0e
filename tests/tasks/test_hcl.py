"""The hcl task on a tiny synthetic scene tree: object crops from annotated and saliency boxes, forward /
backward, the scene → object retrieval evaluator, and the recipe through the runner."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from avssl.data.datasets.image_objects import crop_box
from avssl.data.loader import build_loader
from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder
from avssl.runner.evaluators import EVALUATORS
from avssl.runner.hcl_data import HCLDataConfig, ObjectBoxes, hcl_dataset, scene_object_dataset
from avssl.tasks.hcl import HCL, HCLConfig


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    spec = ImageSynthSpec(size=32, objects=(1, 3))
    return write_image_folder(tmp_path_factory.mktemp("scenes"), {"train": 8, "val": 6}, spec=spec)


def _cfg(tree, **data) -> SimpleNamespace:
    data = HCLDataConfig(root=str(tree), size=32, object_size=16, num_workers=0, **data)
    return SimpleNamespace(data=data, train=SimpleNamespace(seed=0), eval=SimpleNamespace(split="val"))


def test_crop_box_keeps_the_boxed_pixels() -> None:
    pixels = torch.zeros(10, 12, 3, dtype=torch.uint8)
    pixels[2:6, 3:9] = 255
    crop = crop_box(pixels, [3.0, 2.0, 9.0, 6.0], 4)
    assert crop.shape == (1, 3, 4, 4) and int(crop.min()) == 255
    assert crop_box(pixels, [11.5, 9.5, 12.0, 10.0], 2).shape == (1, 3, 2, 2)  # at least 2 px, inside


def test_annotated_objects_follow_the_annotation(tree) -> None:
    cfg = _cfg(tree, objects="annotations")
    dataset = hcl_dataset(cfg)
    annotations = json.loads((tree / "annotations" / "train.json").read_text())["items"]
    sample = dataset[0]
    path = dataset.items[0][0]
    boxes = annotations[path.split("train/")[1]]["objects"]
    n = min(3, len(boxes))
    assert sample["objects"].shape == (3, 2, 3, 1, 16, 16) and sample["video"].shape == (3, 1, 32, 32)
    assert sample["object_valid"].tolist() == [k < n for k in range(3)]
    assert sample["object_boxes"][:n].tolist() == [list(map(float, b["box"])) for b in boxes[:n]]
    assert not sample["objects"][n:].any()
    assert not torch.equal(sample["objects"][0, 0], sample["objects"][0, 1])  # two augmented views


def test_saliency_boxes_are_label_free(tree) -> None:
    dataset = hcl_dataset(_cfg(tree))
    sample = dataset[1]
    assert sample["object_valid"].tolist() == [True, False, False]
    box = sample["object_boxes"][0]
    assert 0 <= box[0] < box[2] <= 32 and 0 <= box[1] < box[3] <= 32
    boxes = ObjectBoxes("saliency", str(tree), "train", method="spectral_residual")
    assert len(boxes(dataset.items[1][0], torch.zeros(32, 32, 3, dtype=torch.uint8) + 7)) == 1


def test_forward_backward_and_retrieval_evaluator(tree) -> None:
    cfg = _cfg(tree, objects="annotations")
    batch = next(iter(build_loader(hcl_dataset(cfg), 4, 0)))
    torch.manual_seed(0)
    task = HCL(HCLConfig(queue_size=8, hidden_dim=32, embed_dim=16))
    out = task(batch)
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.logs["loss/hyperbolic"] > 0
    assert float(out.logs["hyp/scene_radius"]) < 1
    assert out.loss.item() == pytest.approx(
        float(out.logs["loss/euclidean"]) + 0.1 * float(out.logs["loss/hyperbolic"]), rel=1e-5
    )
    grads = [p.grad for n, p in task.named_parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    task.on_step_end(1, 10)
    result = EVALUATORS["scene_object_retrieval"](task, cfg, tree)["scene_objects"]
    val = scene_object_dataset(cfg.data, "val")
    objects = sum(int(val[i]["object_valid"].sum()) for i in range(len(val)))
    for space in ("cosine", "hyperbolic"):
        assert result[space]["scenes"] == 6 and result[space]["objects"] == objects
        assert 0 <= result[space]["mAP"] <= 100 and result[space]["R@1"] <= result[space]["R@5"]
    assert task.training


def test_hcl_recipe_runs(tree, tmp_path) -> None:
    from recipes.hcl import main

    result = main(
        [
            "--config",
            "recipes/configs/hcl.yaml",
            f"output_dir={tmp_path}",
            f"data.root={tree}",
            "data.size=32",
            "data.object_size=16",
            "data.num_workers=0",
            "model.queue_size=8",
            "model.hidden_dim=32",
            "train.batch_size=4",
            "train.max_steps=2",
            "train.log_every=1",
            "train.progress_bar=false",
        ]
    )
    evaluation = next(iter(result["eval"].values()))
    assert set(evaluation["scene_objects"]) == {"cosine", "hyperbolic"}
    assert "probe" in evaluation
