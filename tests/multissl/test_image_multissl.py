"""Image multi-SSL (MoCo v2 + DenseCL): the task in every strategy, and recipes/multissl_image.py end to end
on a tiny synthetic ImageFolder tree (joint, and incremental with feature distillation)."""

from __future__ import annotations

import json

import pytest
import torch

from avssl.data.datasets.image_folder import image_folder_items
from avssl.tasks.image_multissl import ImageMultiSSL, ImageMultiSSLConfig
from avssl.tasks.multissl_common import StrategyConfig
from recipes.multissl_image import main

TINY = [
    "data.size=32",
    "data.num_workers=0",
    "data.synthetic={train: 8, val: 4}",
    "model.queue_size=16",
    "model.dense_queue_size=16",
    "train.batch_size=4",
    "train.progress_bar=false",
    "train.log_every=1",
]


def _views(b: int = 4) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "views": [{"video": torch.randn(b, 3, 1, 32, 32, generator=g)} for _ in range(2)]
    }  # one-frame clips


def test_joint_step_updates_both_queues_and_the_key_encoder() -> None:
    torch.manual_seed(0)
    task = ImageMultiSSL(ImageMultiSSLConfig(queue_size=16, dense_queue_size=16))
    key_before = [p.clone() for p in task.key_backbone.parameters()]
    out = task(_views())
    assert {"loss/moco", "loss/densecl"} <= set(out.logs)
    assert torch.allclose(out.loss, 0.5 * out.logs["loss/moco"] + 0.5 * out.logs["loss/densecl"])
    out.loss.backward()
    assert all(p.grad is not None for p in task.parameters() if p.requires_grad)
    assert all(not p.requires_grad for p in task.key_backbone.parameters())
    assert int(task.queues["moco"].ptr) == 4 and int(task.queues["densecl"].ptr) == 4
    with torch.no_grad():
        for p in task.backbone.parameters():
            p.add_(1.0)
    task.on_step_end(1, 10)
    assert any(not torch.equal(a, b) for a, b in zip(key_before, task.key_backbone.parameters()))


def test_single_task_leaves_the_other_head_and_queue_alone() -> None:
    task = ImageMultiSSL(
        ImageMultiSSLConfig(queue_size=16, dense_queue_size=16, strategy=StrategyConfig(pretexts=["densecl"]))
    )
    out = task(_views())
    assert "loss/moco" not in out.logs and int(task.queues["moco"].ptr) == 0
    assert not any(p.requires_grad for p in task.heads["moco"].parameters())


def test_image_recipe_joint_and_incremental(tmp_path) -> None:
    joint = main([f"output_dir={tmp_path / 'joint'}", "train.max_steps=2", *TINY])
    evaluation = json.loads((tmp_path / "joint" / "eval.json").read_text())
    assert {"knn", "linear"} <= set(evaluation["probe"]) and joint["train"][0]["loss/densecl"] > 0
    items, classes = image_folder_items(tmp_path / "joint" / "synthetic", "train")
    assert len(items) == 8 and len(classes) >= 2
    stages = "stages=[{name: moco, pretexts: [moco], max_steps: 2}, {name: densecl, pretexts: [densecl], max_steps: 2}]"
    out = main([f"output_dir={tmp_path / 'inc'}", "model.distill.feature_weight=1.0", stages, *TINY])
    assert [r["skipped"] for r in out["train"]] == [False, False]
    assert "loss/distill_feat" in out["train"][1] and "loss/moco" not in out["train"][1]
    assert (tmp_path / "inc" / "stages" / "01_densecl" / "eval.json").is_file()


def test_image_recipe_skips_and_counts_an_unreadable_image(tmp_path) -> None:
    from avssl.data.synthetic.images import write_image_folder

    root = tmp_path / "images"
    write_image_folder(root, {"train": 8, "val": 4}, size=32, seed=0)
    broken = next(p for p in sorted((root / "train").rglob("*")) if p.is_file())
    broken.write_bytes(b"not an image")
    args = [
        f"data.root={root}",
        f"output_dir={tmp_path / 'run'}",
        "train.max_steps=4",
        "data.max_bad_fraction=0.5",
        "eval.split=null",
        *TINY,
    ]
    out = main(args)
    assert out["train"][0]["bad_items"] >= 1
    from avssl.runner.image_data import ImageDataConfig, image_dataset

    dataset = image_dataset(ImageDataConfig(root=str(root), size=32), "train", train=True)
    index = [p for p, _ in dataset.items].index(str(broken))
    stand_in = dataset[(index, 0)]  # a readable image stands in; the broken one is reported with it
    assert stand_in["index"] != index and stand_in["replaced"][0].path == str(broken)
    with pytest.raises(Exception, match=broken.name):  # evaluation names the file instead
        image_dataset(ImageDataConfig(root=str(root), size=32), "train", train=False)[index]
