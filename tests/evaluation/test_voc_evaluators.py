"""The `dense_probe` and `voc_classification` evaluators and `avssl eval dense-probe | voc-classification`
end to end on a tiny synthetic VOC tree with an untrained image_ssl task."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import yaml
from safetensors.torch import save_file

from avssl.cli import main
from avssl.data.synthetic.images import ImageSynthSpec
from avssl.data.synthetic.voc import write_voc
from avssl.runner.evaluators import EVALUATORS
from avssl.runner.image_data import ImageDataConfig
from avssl.runner.specs import ImageEvalConfig
from avssl.tasks.image_ssl import ImageSSL, ImageSSLConfig


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    spec = ImageSynthSpec(size=32, objects=(1, 3), seed=1)
    return write_voc(
        tmp_path_factory.mktemp("voc") / "VOCdevkit" / "VOC2012", {"train": 8, "val": 6}, spec=spec
    )


@pytest.fixture(scope="module")
def task():
    torch.manual_seed(0)
    return ImageSSL(ImageSSLConfig(queue_size=16))


def test_evaluators_on_a_voc_tree(voc, task, tmp_path) -> None:
    cfg = SimpleNamespace(
        data=ImageDataConfig(root=str(voc.parent.parent), size=32, num_workers=0),
        eval=ImageEvalConfig(split="val"),
    )
    task.train()
    dense = EVALUATORS["dense_probe"](task, cfg, tmp_path)["dense_probe"]
    assert task.training  # put back in training mode
    assert dense["classes"] == [
        "background",
        "dog_barking",
        "bee",
        "playing_acoustic_guitar",
        "car_engine_knocking",
    ]
    assert (dense["num_train"], dense["num_val"], dense["size"]) == (8, 6, 32)
    assert 0 <= dense["mIoU"] <= 100 and 0 < dense["mIoU_all_background"] < 100
    cls = EVALUATORS["voc_classification"](task, cfg, tmp_path)["voc_classification"]
    assert cls["ap_mode"] == "voc07" and (cls["num_train"], cls["num_test"]) == (8, 6)
    assert 0 <= cls["mAP"] <= 100 and len(cls["ap"]) == 4
    # eval.root (when the eval section has one) wins over data.root
    other = SimpleNamespace(
        data=ImageDataConfig(root="", size=32), eval=ImageEvalConfig(root=str(voc), split="val")
    )
    assert EVALUATORS["voc_classification"](task, other, tmp_path)["voc_classification"] == cls


def test_evaluators_skip_without_a_voc_tree_or_split(voc, task, tmp_path) -> None:
    for root, split in (("", "val"), (str(tmp_path), "val"), (str(voc), None)):
        cfg = SimpleNamespace(data=ImageDataConfig(root=root, size=32), eval=ImageEvalConfig(split=split))
        assert EVALUATORS["dense_probe"](task, cfg, tmp_path) is None
        assert EVALUATORS["voc_classification"](task, cfg, tmp_path) is None


def test_the_cli_commands(voc, task, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    config = {"task": "image_ssl", "model": {"queue_size": 16}, "data": {"size": 32}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    save_file(
        {k: v.contiguous().clone() for k, v in task.state_dict().items()},
        str(run / "model" / "model.safetensors"),
    )
    out = tmp_path / "dense.json"
    assert main(["eval", "dense-probe", "--run", str(run), "--data", str(voc), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["size"] == 32 and report["num_val"] == 6 and len(report["iou"]) == 5
    out = tmp_path / "cls.json"
    args = [
        "eval",
        "voc-classification",
        "--run",
        str(run),
        "--data",
        str(voc),
        "--size",
        "48",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert json.loads(out.read_text())["size"] == 48
    # a bad tree: one line naming the file
    (voc / "ImageSets" / "Main" / "val.txt").rename(tmp_path / "val.txt")
    try:
        assert (
            main(["eval", "voc-classification", "--run", str(run), "--data", str(voc), "--out", str(out)])
            == 2
        )
        assert "val.txt: split file not found" in capsys.readouterr().err
    finally:
        (tmp_path / "val.txt").rename(voc / "ImageSets" / "Main" / "val.txt")
