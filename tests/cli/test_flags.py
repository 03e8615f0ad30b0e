"""Every command, flag, positional, choice, default and help text of `avssl` is as recorded in
flags_baseline.json (written from the single-file CLI before it became a package), apart from the intended
additions listed here."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from avssl.cli import build_parser

sys.path.insert(0, str(Path(__file__).parent))  # tests are imported with importlib (pyproject addopts)
from flag_tree import BASELINE, flag_tree  # noqa: E402

DEBUG = {
    "action": "_StoreTrueAction",
    "choices": None,
    "default": "==SUPPRESS==",
    "dest": "debug",
    "help": "show tracebacks instead of one-line errors",
    "metavar": None,
    "nargs": 0,
    "required": False,
    "type": None,
}
VERSION = {
    "action": "_VersionAction",
    "choices": None,
    "default": "==SUPPRESS==",
    "dest": "version",
    "help": "show program's version number and exit",
    "metavar": None,
    "nargs": 0,
    "required": False,
    "type": None,
}
PLOT_HELP = "loss, lr and evaluation curves of training runs (one PNG)"
DEVICE = {
    "action": "_StoreAction",
    "choices": ["auto", "cpu", "cuda", "mps"],
    "default": "auto",
    "dest": "device",
    "help": "where the model runs: auto = cuda if available, else mps if available, else cpu",
    "metavar": None,
    "nargs": None,
    "required": False,
    "type": None,
}
DEVICE_COMMANDS = (
    "embed",
    "eval retrieval",
    "eval probe",
    "eval localization",
    "eval segmentation",
    "localize",
    "segment",
)


# commands added after the baseline (in `avssl --help` order), their flags recorded in flags_baseline.json
NEW_COMMANDS = {
    "export": "a trained encoder as a torchvision / timm / safetensors file",
    "push": "share a finished run on the Hugging Face Hub, with a model card",
}


# issue #17: the action-recognition layouts as downloaded (`check-data --layout`)
ACTION_LAYOUTS = (
    "ucf101",
    "hmdb51",
    "kinetics",
    "diving48",
    "pennaction",
    "otb",
    "pouring",
)  # the last 3: #18


# issue #17: `avssl eval action` and `avssl eval video-retrieval` (their flags checked on their own below)
NEW_EVAL_COMMANDS = {
    "action": "action recognition: linear probe / kNN, multi-clip test, top-1/top-5 per video",
    "video-retrieval": "test clips query train clips: R@1/5/10/20/50 (a clip of its class)",
    # issue #18: frame-level protocols on a phase-labelled layout
    "frames": "frame-level: phase classification, phase progression, Kendall's tau, frame retrieval AP@5/10/15",
    "tracking": "track from the first frame's box on frozen features: OTB success AUC, precision@20",
    # issue #19: unsupervised saliency against box annotations
    "saliency": "unsupervised saliency (random-init CNN, spectral residual) vs the centre prior",
    # issue #20: dense and VOC07 protocols on a Pascal VOC tree
    "dense-probe": "linear 1x1 head on frozen feature maps, VOC segmentation: mIoU, pixel accuracy",
    "voc-classification": "VOC07 linear protocol: one-vs-rest logistic on pooled features, 11-point mAP",
    # Image SSL II: change detection on LEVIR-CD / WHU-CD pairs
    "change-detection": "fine-tune a Siamese backbone + light decoder on LEVIR-CD / WHU-CD pairs: F1, IoU, OA "
    "of the change class",
    # Image SSL II: detection fine-tuning on a COCO tree
    "detection": "Faster R-CNN fine-tuned from the run's backbone on a COCO tree: AP, AP50, AP75 (pycocotools)",
    "segments": "a CYBORGS run's segments against annotated instance masks: best-overlap mIoU",
}
ACTION_SOURCE_FLAGS = [
    "--batch-size", "--clips", "--data", "--debug", "--device", "--help", "--layout", "--out", "--run",
    "--split-index", "--test-split", "--train-split", "--workers", "-h",
]  # fmt: skip


def batch_size(default: int, help: str) -> dict:
    return {**DEVICE, "choices": None, "default": default, "dest": "batch_size", "help": help, "type": "int"}


OGL_HELP = {
    "eval localization": "with --run (EZ-VSL): object-guided localization, alpha·AV + (1−alpha)·objectness "
    "(paper: 0.4; default: the run's eval.ogl_alpha)",
    "localize": "EZ-VSL runs: object-guided localization, alpha·AV + (1−alpha)·objectness (paper: 0.4; "
    "default: the run's eval.ogl_alpha)",
}


def ogl_flag(help_text: str) -> dict:
    """`--ogl ALPHA` (issue #14: EZ-VSL's object-guided localization)."""
    return {
        "action": "_StoreAction",
        "choices": None,
        "default": None,
        "dest": "ogl",
        "help": help_text,
        "metavar": "ALPHA",
        "nargs": None,
        "required": False,
        "type": "float",
    }


def expected_tree() -> dict:
    """The baseline plus the intended additions: `--version` on top, `--debug` after every sub-command,
    `--ogl` on `eval localization` and `localize`, the `plot` command (checked on its own below),
    `check-data --layout shards` and the ACTION_LAYOUTS, `synth`'s action layouts and `--background-p`,
    `--device` on every command that runs a model, and a `--batch-size` for
    `localize` and `eval localization`, and the commands of NEW_COMMANDS and NEW_EVAL_COMMANDS."""
    tree = copy.deepcopy(json.loads(BASELINE.read_text()))
    layout = tree["check-data"]["options"]["--layout"]
    layout["choices"] = sorted([*layout["choices"], "shards", *ACTION_LAYOUTS])
    tree[""]["options"]["--version"] = VERSION
    tree[""]["subcommands"]["plot"] = PLOT_HELP
    tree[""]["subcommand_order"].append("plot")
    for command, summary in NEW_COMMANDS.items():  # their own flags are recorded in the baseline
        tree[""]["subcommands"][command] = summary
        tree[""]["subcommand_order"].append(command)
    for path, node in tree.items():
        if path:
            node["options"]["--debug"] = DEBUG
        if path in DEVICE_COMMANDS:
            node["options"]["--device"] = DEVICE
    tree["localize"]["options"]["--batch-size"] = batch_size(8, "windows per forward pass")
    tree["eval localization"]["options"]["--batch-size"] = batch_size(
        16, "clips per forward pass (with --run)"
    )
    for path, help_text in OGL_HELP.items():
        tree[path]["options"]["--ogl"] = ogl_flag(help_text)
    synth = tree["synth"]["options"]  # issue #17: the synthetic action sets and their background trap
    synth["--layout"]["choices"] = sorted(
        [
            *synth["--layout"]["choices"],
            "ucf101",
            "hmdb51",
            "kinetics",
            "pennaction",
            "otb",
            "imagefolder",
            "voc",
            "levir-cd",
            "coco",
        ]  # #18: pennaction, otb; #19: imagefolder; #20: voc, levir-cd, coco
    )
    synth["--classes"]["help"] = "number of object/sound classes (<= 8; action layouts: motions, <= 10)"
    synth["--background-p"] = {
        **DEVICE,
        "choices": None,
        "default": 0.8,
        "dest": "background_p",
        "help": "action layouts: probability that a train clip shows its class's background family (the trap); "
        "imagefolder: that an image does",
        "type": "float",
    }
    synth["--silent"]["help"] = (
        "silent distractors per video (default 0 1); imagefolder / voc / coco: objects per image besides "
        "the largest (default 0 0 / 0 2 / 0 2)"
    )
    for command, summary in NEW_EVAL_COMMANDS.items():
        tree["eval"]["subcommands"][command] = summary
        tree["eval"]["subcommand_order"].append(command)
    f_mode = tree["eval segmentation"]["options"]["--f-mode"]  # with --run, the run's eval.f_mode
    f_mode["default"] = None
    f_mode["help"] += "; default: with --run the run's eval.f_mode, else per-frame"
    return tree


def test_flags_match_the_baseline_plus_intended_additions():
    tree = flag_tree(build_parser())
    plot = tree.pop("plot")
    for command in NEW_EVAL_COMMANDS:
        tree.pop(f"eval {command}")
    expected = expected_tree()
    assert sorted(tree) == sorted(expected)
    for path in expected:
        assert tree[path] == expected[path], f"`avssl {path}` differs from the baseline"
    assert sorted(plot["options"]) == ["--debug", "--help", "--out", "-h"]
    assert plot["options"]["--out"]["default"] == "curves.png"
    assert plot["positionals"]["runs"]["nargs"] == "+"


def test_eval_action_and_video_retrieval_flags():
    tree = flag_tree(build_parser())
    action, retrieval = tree["eval action"]["options"], tree["eval video-retrieval"]["options"]
    assert sorted(action) == sorted(
        [*ACTION_SOURCE_FLAGS, "--protocol", "--background-swapped", "--steps", "--lr"]
    )
    assert sorted(retrieval) == sorted(ACTION_SOURCE_FLAGS)
    assert action["--protocol"]["choices"] == ["finetune", "knn", "linear"]
    assert action["--protocol"]["default"] == "linear"
    assert action["--steps"]["default"] == 200 and action["--lr"]["default"] == 1e-3
    assert action["--background-swapped"]["action"] == "_StoreTrueAction"
    for options in (action, retrieval):
        assert options["--run"]["required"] and options["--out"]["required"]
        assert options["--clips"]["default"] == 10 and options["--clips"]["type"] == "int"
        assert options["--split-index"]["choices"] == [1, 2, 3]
        assert options["--device"] == DEVICE


def test_eval_frames_flags():
    frames = flag_tree(build_parser())["eval frames"]["options"]
    assert sorted(frames) == sorted(
        ["--data", "--debug", "--device", "--help", "--layout", "--out", "--run", "--stride", "--test-split",
         "--train-split", "-h"]
    )  # fmt: skip
    assert frames["--run"]["required"] and frames["--out"]["required"]
    assert frames["--test-split"]["default"] == "val" and frames["--stride"]["default"] == 1
    assert frames["--device"] == DEVICE


def test_eval_tracking_flags():
    tracking = flag_tree(build_parser())["eval tracking"]["options"]
    assert sorted(tracking) == sorted(
        ["--data", "--debug", "--device", "--help", "--out", "--run", "--size", "-h"]
    )
    assert tracking["--run"]["required"] and tracking["--data"]["required"] and tracking["--out"]["required"]
    assert tracking["--size"]["default"] is None and tracking["--device"] == DEVICE


def test_eval_saliency_flags():
    saliency = flag_tree(build_parser())["eval saliency"]["options"]
    assert sorted(saliency) == sorted(
        ["--data", "--split", "--method", "--layer", "--seed", "--out", "--debug", "--help", "-h"]
    )
    assert saliency["--method"]["choices"] == ["random_cnn", "spectral_residual"]
    assert saliency["--layer"]["default"] == "layer1" and saliency["--split"]["default"] == "val"


def test_eval_change_detection_flags():
    change = flag_tree(build_parser())["eval change-detection"]["options"]
    assert sorted(change) == sorted(
        ["--batch-size", "--data", "--debug", "--device", "--freeze", "--fuse", "--help", "--init", "--lr",
         "--out", "--run", "--seed", "--size", "--steps", "--test-split", "--train-split", "-h"]
    )  # fmt: skip
    assert change["--data"]["required"] and change["--out"]["required"] and not change["--run"]["required"]
    assert change["--init"]["choices"] == ["random", "run"] and change["--init"]["default"] == "run"
    assert change["--steps"]["default"] == 200 and change["--test-split"]["default"] == "test"
    assert change["--fuse"]["choices"] == ["concat", "diff"] and change["--device"] == DEVICE


def test_eval_detection_and_segments_flags():
    tree = flag_tree(build_parser())
    detection, segments = tree["eval detection"]["options"], tree["eval segments"]["options"]
    assert sorted(detection) == sorted(
        ["--batch-size", "--data", "--debug", "--device", "--freeze", "--help", "--init", "--lr", "--out",
         "--run", "--seed", "--size", "--steps", "--train-split", "--val-split", "-h"]
    )  # fmt: skip
    assert detection["--freeze"]["action"] == "_StoreTrueAction" and detection["--steps"]["default"] == 300
    assert sorted(segments) == sorted(
        ["--batch-size", "--data", "--debug", "--device", "--help", "--out", "--run", "--split", "-h"]
    )
    assert segments["--run"]["required"] and segments["--data"]["required"] and segments["--out"]["required"]
    assert segments["--split"]["default"] == "val" and segments["--device"] == DEVICE


def test_baseline_is_not_trivially_small():
    baseline = json.loads(BASELINE.read_text())
    assert len(baseline) == 18 and len(baseline["eval localization"]["options"]) == 12
    assert baseline["synth"]["options"]["--layout"]["choices"]


def test_version_and_debug_after_the_subcommand(capsys, tmp_path):
    from avssl.cli import main
    from avssl.data.decoding import MediaError

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("avssl ") and out.split()[1][0].isdigit()
    bad = tmp_path / "bad.mp4"
    bad.write_text("not media")
    with pytest.raises(MediaError):
        main(["decode", str(bad), "--debug"])
    with pytest.raises(MediaError):
        main(["--debug", "decode", str(bad)])  # a sub-command without --debug keeps the top-level one
    assert main(["decode", str(bad)]) == 2
