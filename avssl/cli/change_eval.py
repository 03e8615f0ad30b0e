"""`avssl eval change-detection`: the change-detection fine-tuning protocol (`avssl.evaluation.change_finetune`)
on a LEVIR-CD / WHU-CD layout (as downloaded, or `avssl synth --layout levir-cd`): a Siamese copy of a run's
image backbone (or a freshly initialised one: `--init random`) and a light decoder, fine-tuned on the training
split and scored on the test split (precision, recall, F1, IoU, OA of the change class; the all-no-change and
pixel-difference baselines beside them)."""

from __future__ import annotations

import argparse
import copy
import json

from torch import nn

from avssl.cli.common import add_command, add_device, device_of, write_json
from avssl.config import ConfigError


def reinitialised(module: nn.Module) -> nn.Module:
    """A copy of `module` with every submodule's parameters (and BatchNorm statistics) drawn afresh."""
    fresh = copy.deepcopy(module)
    for sub in fresh.modules():
        if sub is not fresh and callable(getattr(sub, "reset_parameters", None)):
            sub.reset_parameters()
    return fresh


def change_backbone(run: str | None, init: str, device) -> tuple[nn.Module, dict]:
    """(the image backbone to fine-tune, {"init", "run"}): the run's `task.backbone` (`init` "run"), its
    architecture re-initialised (`init` "random" with a run), or without a run the default image_ssl
    backbone, freshly initialised."""
    if run is None:
        if init != "random":
            raise ConfigError("give --run RUN (a trained image model), or --init random for the baseline")
        from avssl.encoders import build_encoder
        from avssl.tasks.image_ssl import ImageSSLConfig

        return build_encoder(ImageSSLConfig().backbone), {"init": "random", "run": None}
    from avssl.inference.load import load_run

    task, _ = load_run(run, device)
    backbone = getattr(task, "backbone", None)
    if backbone is None:
        raise ConfigError(f"{run}: the run's task has no `backbone` giving feature maps")
    return (reinitialised(backbone) if init == "random" else backbone), {"init": init, "run": str(run)}


def _cmd_change_detection(args: argparse.Namespace) -> int:
    from avssl.evaluation.change_finetune import ChangeFinetuneConfig, change_detection_report

    for name in ("steps", "batch_size", "size"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "steps" else 1):
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
    device = device_of(args)
    backbone, source = change_backbone(args.run, args.init, device)
    cfg = ChangeFinetuneConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        backbone_lr_scale=0.0 if args.freeze else 1.0,
        fuse=args.fuse,
        size=args.size,
        seed=args.seed,
    )
    report = change_detection_report(backbone, args.data, args.train_split, args.test_split, cfg, device)
    report = {**report, **source}
    write_json(args.out, report)
    summary = {k: report[k] for k in ("F1", "IoU", "OA", "precision", "recall", "num_test", "init")}
    summary["baselines_F1"] = {k: v["F1"] for k, v in report["baselines"].items()}
    print(json.dumps(summary))
    return 0


def add_change_detection(evals: argparse._SubParsersAction) -> None:
    parser = add_command(
        evals,
        "change-detection",
        "fine-tune a Siamese backbone + light decoder on LEVIR-CD / WHU-CD pairs: F1, IoU, OA of the change class",
    )
    parser.add_argument("--run", help="a training run directory (an image model); its task's backbone")
    parser.add_argument(
        "--init",
        choices=["run", "random"],
        default="run",
        help="run: the run's trained backbone; random: freshly initialised (the run's architecture, or "
        "without --run the default image_ssl backbone) — the baseline",
    )
    parser.add_argument(
        "--data", required=True, help="a change-detection root: <split>/A, <split>/B, <split>/label"
    )
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--test-split", default="test")
    parser.add_argument("--steps", type=int, default=200, help="fine-tuning steps")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per step")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--freeze", action="store_true", help="keep the backbone frozen (train the decoder only)"
    )
    parser.add_argument(
        "--fuse", choices=["diff", "concat"], default="diff", help="|f(A) - f(B)| or [f(A), f(B)]"
    )
    parser.add_argument("--size", type=int, help="images resized to SIZE x SIZE (default: the pairs' size)")
    parser.add_argument("--seed", type=int, default=0)
    add_device(parser)
    parser.add_argument("--out", required=True)
    parser.set_defaults(func=_cmd_change_detection)
