"""Change-detection metrics against a per-pixel loop, their edge cases, the pixel-difference threshold against
brute force, a tiny fine-tuning that beats all-no-change, `avssl eval change-detection` and the
`change_detection` evaluator end to end on a tiny synthetic LEVIR-CD tree."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from avssl.cli import main
from avssl.data.synthetic.change import ChangeSynthSpec, write_change_detection
from avssl.encoders import build_encoder
from avssl.evaluation.change import ChangeCounts, change_counts, change_scores, split_scores
from avssl.evaluation.change_finetune import (
    ChangeFinetuneConfig,
    change_detection_report,
    fit_threshold,
    pixel_difference,
)
from avssl.runner.evaluators import EVALUATORS
from avssl.runner.image_data import ImageDataConfig
from avssl.runner.specs import ImageEvalConfig
from avssl.tasks.image_ssl import ImageSSL, ImageSSLConfig


def loop_reference(preds: list[np.ndarray], labels: list[np.ndarray]) -> dict:
    """Per-pixel loop over every pair: the counts, then the ratios (None when a denominator is 0)."""
    tp = fp = fn = tn = 0
    for pred, label in zip(preds, labels):
        for p, t in zip(pred.flatten().tolist(), label.flatten().tolist()):
            tp += p and t
            fp += p and not t
            fn += t and not p
            tn += not p and not t

    def pct(num, den):
        return 100 * num / den if den else None

    f1 = pct(2 * tp, 2 * tp + fp + fn)
    precision, recall = pct(tp, tp + fp), pct(tp, tp + fn)
    if precision and recall:  # the harmonic mean of precision and recall is the same F1
        assert f1 == pytest.approx(2 * precision * recall / (precision + recall))
    return {"precision": precision, "recall": recall, "F1": f1, "IoU": pct(tp, tp + fp + fn)} | {
        "OA": pct(tp + tn, tp + fp + fn + tn),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def test_metrics_match_the_loop_reference() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        shapes = [(int(rng.integers(3, 20)), int(rng.integers(3, 20))) for _ in range(4)]
        labels = [rng.random(s) < rng.uniform(0, 0.5) for s in shapes]
        preds = [rng.random(s) < rng.uniform(0, 0.5) for s in shapes]
        got, want = split_scores(preds, labels), loop_reference(preds, labels)
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value), key
    # accumulated over the split, not averaged per image
    a = change_counts(np.ones((2, 2), bool), np.array([[1, 0], [0, 0]], bool))
    b = change_counts(np.zeros((4, 4), bool), np.ones((4, 4), bool))
    assert (a + b) == ChangeCounts(tp=1, fp=3, fn=16, tn=0)
    assert change_scores(a + b)["F1"] == pytest.approx(100 * 2 / (2 + 3 + 16))


def test_edge_cases() -> None:
    empty = np.zeros((5, 5), bool)
    nothing = change_scores(change_counts(empty, empty))  # no change predicted and none present
    assert nothing["OA"] == 100 and all(nothing[k] is None for k in ("precision", "recall", "F1", "IoU"))
    label = empty.copy()
    label[1:3, 1:3] = True
    missed = change_scores(change_counts(empty, label))  # all-no-change on a pair with change
    assert missed["F1"] == missed["IoU"] == missed["recall"] == 0 and missed["precision"] is None
    assert missed["OA"] == pytest.approx(100 * 21 / 25)
    perfect = change_scores(change_counts(label, label))
    assert (
        perfect["F1"] == perfect["IoU"] == perfect["precision"] == perfect["recall"] == perfect["OA"] == 100
    )
    false_alarm = change_scores(change_counts(label, empty))
    assert false_alarm["precision"] == 0 and false_alarm["recall"] is None and false_alarm["F1"] == 0
    with pytest.raises(ValueError, match="differ in shape"):
        change_counts(empty, empty[:4])


def test_threshold_is_the_brute_force_best() -> None:
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.integers(0, 256, (3, 3, 9, 9), dtype=np.uint8))
    b = torch.from_numpy(rng.integers(0, 256, (3, 3, 9, 9), dtype=np.uint8))
    d = pixel_difference(a, b)
    assert d.shape == (3, 9, 9) and int(d[0, 0, 0]) == int(
        (a[0, :, 0, 0].int() - b[0, :, 0, 0].int()).abs().sum()
    )
    labels = d + torch.from_numpy(rng.normal(0, 60, d.shape)) > 380
    f1 = [change_scores(change_counts(d > t, labels))["F1"] or 0 for t in range(int(d.max()) + 1)]
    assert fit_threshold(d, labels) == int(np.argmax(f1))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    spec = ChangeSynthSpec(size=32, changes=(1, 3), seed=2)
    return write_change_detection(tmp_path_factory.mktemp("cd") / "cd", {"train": 16, "test": 6}, spec)


def test_tiny_finetuning_beats_all_no_change(tree) -> None:
    torch.manual_seed(0)
    backbone = build_encoder(ImageSSLConfig().backbone)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    report = change_detection_report(backbone, tree, cfg=ChangeFinetuneConfig(steps=40))
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in before.items())  # a copy is tuned
    base = report["baselines"]
    assert base["all_no_change"]["F1"] == 0 and base["all_no_change"]["OA"] < 100
    assert report["F1"] > 30 and report["OA"] > base["all_no_change"]["OA"]
    assert (report["num_train"], report["num_test"], report["size"]) == (16, 6, 32)
    assert 0 <= base["pixel_difference"]["F1"] <= 100 and report["final_loss"] > 0


def test_an_output_stride_8_backbone_gives_its_3_levels(tree) -> None:
    """CYBORGS' backbone (small, output stride 8: 3 blocks) is fine-tuned with its 3 levels, finest first."""
    from avssl.encoders import Visual2dConfig
    from avssl.evaluation.change_finetune import backbone_levels

    backbone = build_encoder(Visual2dConfig(name="small", output_stride=8))
    assert backbone_levels(backbone, 32, multiscale=True) == ((32, 64, 128), True)
    report = change_detection_report(backbone, tree, cfg=ChangeFinetuneConfig(steps=2))
    assert 0 <= report["F1"] <= 100


def _run(tmp_path, task) -> str:
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    config = {"task": "image_ssl", "model": {"queue_size": 16}, "data": {"size": 32}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    state = {k: v.contiguous().clone() for k, v in task.state_dict().items()}
    save_file(state, str(run / "model" / "model.safetensors"))
    return str(run)


def test_the_cli_and_the_evaluator(tree, tmp_path, capsys) -> None:
    torch.manual_seed(0)
    task = ImageSSL(ImageSSLConfig(queue_size=16))
    run, out = _run(tmp_path, task), tmp_path / "cd.json"
    common = ["--data", str(tree), "--steps", "3", "--batch-size", "4", "--out", str(out)]
    assert main(["eval", "change-detection", "--run", run, *common]) == 0
    report = json.loads(out.read_text())
    assert report["init"] == "run" and report["run"] == run and report["protocol"]["steps"] == 3
    assert {"precision", "recall", "F1", "IoU", "OA", "baselines"} <= report.keys()
    assert json.loads(capsys.readouterr().out)["num_test"] == 6
    assert main(["eval", "change-detection", "--init", "random", "--fuse", "concat", *common]) == 0
    assert json.loads(out.read_text())["init"] == "random"
    assert main(["eval", "change-detection", *common]) == 2  # neither a run nor --init random
    assert "give --run RUN" in capsys.readouterr().err
    cfg = SimpleNamespace(data=ImageDataConfig(root=str(tree), size=32), eval=ImageEvalConfig(split="test"))
    cfg.eval.change_steps = 2
    result = EVALUATORS["change_detection"](task, cfg, tmp_path)["change_detection"]
    assert result["num_test"] == 6 and result["protocol"]["test_split"] == "test"
    for root, split in (("", "test"), (str(tmp_path), "test"), (str(tree), None)):
        cfg = SimpleNamespace(data=ImageDataConfig(root=root, size=32), eval=ImageEvalConfig(split=split))
        assert EVALUATORS["change_detection"](task, cfg, tmp_path) is None
