"""Detection fine-tuning on a tiny synthetic COCO tree: COCOeval on hand-made cases with known APs,
Faster R-CNN trained on the CPU beating the untrained detector, the evaluator and `avssl eval detection`."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from avssl.cli import main
from avssl.data.synthetic.coco import write_coco
from avssl.data.synthetic.images import ImageSynthSpec
from avssl.evaluation.coco_ap import coco_ap
from avssl.evaluation.detection import DetectionBackbone, DetectionConfig, detection_report, reinitialised
from avssl.runner.evaluators import EVALUATORS
from avssl.runner.image_data import ImageDataConfig
from avssl.runner.specs import ImageEvalConfig
from avssl.tasks.image_ssl import ImageSSL, ImageSSLConfig


def _toy_ground_truth() -> dict:
    """One 100 × 100 image with two objects of category 1 and one of category 2."""
    boxes = {1: ([10, 10, 20, 20], 1), 2: ([50, 50, 30, 20], 1), 3: ([5, 60, 15, 30], 2)}
    return {
        "images": [{"id": 1, "width": 100, "height": 100, "file_name": "a.jpg"}],
        "annotations": [
            {"id": i, "image_id": 1, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
            for i, (b, c) in boxes.items()
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }


def _detection(box, category, score=0.9) -> dict:
    return {"image_id": 1, "category_id": category, "bbox": box, "score": score}


def test_coco_ap_on_hand_made_cases() -> None:
    gt = _toy_ground_truth()
    perfect = [_detection(a["bbox"], a["category_id"]) for a in gt["annotations"]]
    scores = coco_ap(gt, perfect)
    assert scores["AP"] == scores["AP50"] == scores["AP75"] == 100.0
    # category 1 misses one of its two objects: precision 1 up to recall 0.5, then nothing — 51 of COCO's 101
    # recall points → AP_1 = 51 / 101; category 2 is perfect: AP = (51 / 101 + 1) / 2
    missed = [d for d in perfect if d["bbox"] != [50, 50, 30, 20]]
    assert coco_ap(gt, missed)["AP"] == pytest.approx(100 * (51 / 101 + 1) / 2, abs=1e-3)
    # a box shifted to IoU 0.6 with its object counts at IoU 0.5 but not at 0.75
    shifted = [*missed, _detection([50 + 7.5, 50, 30, 20], 1)]  # IoU = 22.5·20 / (2·600 − 450) = 0.6
    s = coco_ap(gt, shifted)
    assert s["AP50"] == 100.0 and s["AP75"] == pytest.approx(100 * (51 / 101 + 1) / 2, abs=1e-3)
    # a wrong category is a miss and a false positive
    assert coco_ap(gt, [_detection(a["bbox"], 3 - a["category_id"]) for a in gt["annotations"]])["AP"] == 0
    assert coco_ap(gt, [])["AP50"] == 0.0
    # the objects are 10 × 10 … 30 × 20 px: all "small" (< 32²), no medium / large ones
    assert scores["APs"] == 100.0 and scores["APm"] is None and scores["APl"] is None


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    spec = ImageSynthSpec(size=64, num_classes=3, objects=(1, 2), size_range=(0.35, 0.6), seed=2)
    return write_coco(tmp_path_factory.mktemp("coco") / "coco", {"train": 32, "val": 12}, spec=spec)


@pytest.fixture(scope="module")
def task():
    torch.manual_seed(0)
    return ImageSSL(ImageSSLConfig(queue_size=16))


def test_backbone_wrapper_and_random_init(task) -> None:
    body = DetectionBackbone(task.backbone, 32)
    out = body(torch.zeros(2, 3, 64, 64))
    assert list(out) == ["0"] and out["0"].shape == (2, 32, 4, 4) and body.out_channels == 32
    fresh = reinitialised(task.backbone, 5)
    a, b = dict(task.backbone.named_parameters()), dict(fresh.named_parameters())
    assert any(not torch.equal(a[k], b[k]) for k in a)  # new weights; the run's are left as they were
    assert all(torch.equal(p, q) for p, q in zip(reinitialised(task.backbone, 5).parameters(), b.values()))


def test_finetuning_raises_ap_over_the_untrained_detector(coco, task) -> None:
    cfg = dict(size=64, batch_size=4, seed=0)
    untrained = detection_report(task.backbone, str(coco), DetectionConfig(steps=0, **cfg))
    trained = detection_report(task.backbone, str(coco), DetectionConfig(steps=80, **cfg))
    assert (trained["num_train"], trained["num_val"]) == (32, 12) and trained["init"] == "run"
    assert trained["classes"] == ["dog_barking", "bee", "playing_acoustic_guitar"]
    assert untrained["AP50"] < 5.0
    assert trained["AP50"] > untrained["AP50"] + 10.0, (untrained, trained)
    assert 0 <= trained["AP"] <= trained["AP50"] <= 100


def test_a_frozen_backbone_keeps_its_weights_and_statistics(coco, task) -> None:
    from avssl.evaluation.detection import COCODataset, build_detector, train_detector

    cfg = DetectionConfig(steps=3, size=64, batch_size=4, frozen_backbone=True)
    detector = build_detector(task.backbone, 3, cfg)
    before = {k: v.clone() for k, v in detector.state_dict().items()}
    train_detector(detector, COCODataset(str(coco), "train2017"), cfg)
    after = detector.state_dict()
    body = [k for k in before if k.startswith("backbone.body.")]
    assert body and any("running_mean" in k for k in body)
    assert all(torch.equal(before[k], after[k]) for k in body)  # weights and batch-norm statistics
    heads = [k for k in before if k.startswith(("backbone.lateral", "rpn.", "roi_heads.")) and "weight" in k]
    assert heads and all(not torch.equal(before[k], after[k]) for k in heads)  # everything else trains
    assert all(not p.requires_grad for p in detector.backbone.body.parameters())


def test_evaluator_and_cli(coco, task, tmp_path, capsys) -> None:
    cfg = SimpleNamespace(
        data=ImageDataConfig(root="", size=64, num_workers=0),
        eval=ImageEvalConfig(root=str(coco), detection_steps=2),
    )
    task.train()
    report = EVALUATORS["detection"](task, cfg, tmp_path)["detection"]
    assert task.training and report["config"]["steps"] == 2 and np.isfinite(report["final_loss"])
    no_tree = SimpleNamespace(data=ImageDataConfig(root=str(tmp_path), size=64), eval=ImageEvalConfig())
    assert EVALUATORS["detection"](task, no_tree, tmp_path) is None
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    config = {"task": "image_ssl", "model": {"queue_size": 16}, "data": {"size": 64}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    state = {k: v.contiguous().clone() for k, v in task.state_dict().items()}
    save_file(state, str(run / "model" / "model.safetensors"))
    out = tmp_path / "det.json"
    args = ["eval", "detection", "--run", str(run), "--data", str(coco), "--steps", "2", "--out", str(out)]
    assert main([*args, "--init", "random", "--batch-size", "2", "--freeze"]) == 0
    written = json.loads(out.read_text())
    assert written["config"]["frozen_backbone"] is True
    assert (
        written["init"] == "random"
        and written["config"]["size"] == 64
        and written["config"]["batch_size"] == 2
    )
    assert set(json.loads(capsys.readouterr().out.strip().splitlines()[-1])) >= {"AP", "AP50", "AP75"}
    # a bad tree: one line naming the file
    (coco / "val2017" / "000000000033.jpg").rename(tmp_path / "moved.jpg")
    try:
        assert main(args) == 2
        assert "000000000033.jpg: listed in" in capsys.readouterr().err
    finally:
        (tmp_path / "moved.jpg").rename(coco / "val2017" / "000000000033.jpg")
