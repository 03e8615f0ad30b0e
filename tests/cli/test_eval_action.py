"""`avssl eval action` and `avssl eval video-retrieval` on a video_moco run trained two steps on a tiny
synthetic UCF101-layout set (real mpeg4 AVI files and split lists as released): the JSON equals the
library's numbers on the same features, the swapped copy's drop is test − swapped, bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from avssl.cli import main
from avssl.evaluation.action import clip_features, probe_report, swapped_config, video_retrieval_metrics
from avssl.evaluation.embed import eval_data_config
from avssl.inference.load import load_run
from recipes.video_moco import main as video_moco

CONFIG = Path(__file__).resolve().parents[2] / "recipes" / "configs" / "video_moco.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("video_moco")
    video_moco(
        [
            "--config", str(CONFIG), f"output_dir={out}", "synthetic_classes=3",
            "synthetic_clips_per_class=4", "data.size=32", "data.num_workers=0", "train.batch_size=4",
            "model.queue_size=8", "train.max_steps=2", "train.progress_bar=false", "eval.clips=2",
        ]
    )  # fmt: skip
    return out


def _cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr()


def test_eval_action_knn_with_the_swapped_copy(run, tmp_path, capsys) -> None:
    out = tmp_path / "action.json"
    args = ["eval", "action", "--run", str(run), "--protocol", "knn", "--clips", "2", "--workers", "0"]
    code, _ = _cli([*args, "--background-swapped", "--out", str(out)], capsys)
    assert code == 0
    got = json.loads(out.read_text())
    assert got["protocol"] == "knn" and got["num_clips"] == 2
    assert got["num_videos"] == 3 and got["num_train_videos"] == 9
    task, config = load_run(run)
    data = eval_data_config(config, None, None, None)
    train, test = clip_features(task, data, "train", 2), clip_features(task, data, "test", 2)
    swapped = clip_features(task, swapped_config(data), "test", 2)
    want = probe_report("knn", train, test, swapped, 3)
    for key in ("top1", "top5"):
        assert got[key] == pytest.approx(want[key])
        assert got["background_swapped"][key] == pytest.approx(want["background_swapped"][key])
        assert got["drop"][key] == pytest.approx(got[key] - got["background_swapped"][key])
    # the eval in the run directory (the recipe's `action` evaluator) scored the same features
    evaluated = json.loads((run / "eval_action.json").read_text())
    assert evaluated["action"]["knn"]["top1"] == pytest.approx(want["top1"])
    pairs = json.loads((run / "eval_clip_pairs.json").read_text())["clip_pairs"]  # 3 held-out videos
    assert pairs["R@10"] == 100.0 and 1.0 <= pairs["MedR"] <= 3.0


def test_eval_video_retrieval(run, tmp_path, capsys) -> None:
    out = tmp_path / "retrieval.json"
    code, _ = _cli(
        ["eval", "video-retrieval", "--run", str(run), "--clips", "2", "--workers", "0", "--out", str(out)],
        capsys,
    )
    assert code == 0
    got = json.loads(out.read_text())
    task, config = load_run(run)
    data = eval_data_config(config, None, None, None)
    train, test = clip_features(task, data, "train", 2), clip_features(task, data, "test", 2)
    want = video_retrieval_metrics(test.features, test.clip_labels, train.features, train.clip_labels)
    assert {k: got[k] for k in want} == pytest.approx(want)
    assert got["num_queries"] == 6 and got["num_gallery"] == 18
    assert got["R@50"] == 100.0 and torch.isfinite(torch.tensor(got["MeanR"]))


def test_bad_input_is_one_line(run, tmp_path, capsys) -> None:
    args = [
        "eval",
        "action",
        "--run",
        str(run),
        "--clips",
        "2",
        "--workers",
        "0",
        "--out",
        str(tmp_path / "x.json"),
    ]
    code, err = _cli(
        [*args, "--data", str(run / "synthetic" / "background_swapped"), "--background-swapped"], capsys
    )
    assert code == 2 and "no videos in split 'train'" in err.err and len(err.err.strip().splitlines()) == 1
    swapped = ["--data", str(run / "synthetic" / "background_swapped"), "--protocol", "finetune"]
    code, err = _cli([*args, *swapped], capsys)
    assert code == 2 and "no labelled videos to fine-tune on" in err.err
    code, err = _cli([*args, "--train-split", "test"], capsys)
    assert code == 2 and "both 'test'" in err.err
    (tmp_path / "empty").mkdir()
    code, err = _cli([*args, "--data", str(tmp_path / "empty")], capsys)
    assert code == 2 and "classInd.txt" in err.err
    code, err = _cli([*args, "--clips", "0"], capsys)
    assert code == 2 and "--clips" in err.err


def test_eval_action_finetune(run, tmp_path, capsys) -> None:
    from avssl.evaluation.finetune import FinetuneConfig, clip_logits, finetune, finetune_accuracy

    out = tmp_path / "finetune.json"
    args = [
        "eval",
        "action",
        "--run",
        str(run),
        "--protocol",
        "finetune",
        "--steps",
        "3",
        "--batch-size",
        "4",
    ]
    code, _ = _cli(
        [*args, "--clips", "2", "--workers", "0", "--background-swapped", "--out", str(out)], capsys
    )
    assert code == 0
    got = json.loads(out.read_text())
    assert got["protocol"] == "finetune" and got["steps"] == 3 and got["num_videos"] == 3
    task, config = load_run(run)
    before = {k: v.clone() for k, v in task.state_dict().items()}
    data = eval_data_config(config, None, None, None)
    classifier = finetune(task, data, "train", 3, FinetuneConfig(steps=3, batch_size=4))
    assert all(
        torch.equal(v, task.state_dict()[k]) for k, v in before.items()
    )  # the loaded model is untouched
    changed = [k for k, v in classifier.task.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("encoder.") for k in changed)  # the encoder itself was trained
    want = finetune_accuracy(*clip_logits(classifier, data, "test", 2), 2)  # the same seed: the same model
    assert got["top1"] == pytest.approx(want["top1"]) and got["top5"] == pytest.approx(want["top5"])
    assert got["drop"]["top1"] == pytest.approx(got["top1"] - got["background_swapped"]["top1"])
