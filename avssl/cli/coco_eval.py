"""`avssl eval detection`: Faster R-CNN fine-tuned from a run's image backbone (or from a random
initialisation of the same architecture) on a COCO tree (the download's train2017 / val2017, or
`avssl synth --layout coco`), scored with COCO's AP by pycocotools (`avssl.evaluation.detection`)."""

from __future__ import annotations

import argparse
import json

from avssl.cli.common import add_command, add_device, device_of, write_json
from avssl.config import ConfigError


def _cmd_detection(args: argparse.Namespace) -> int:
    from avssl.evaluation.detection import INITS, DetectionConfig, detection_report
    from avssl.inference.load import load_run

    task, config = load_run(args.run, device_of(args))
    backbone = getattr(task, "backbone", None)
    if backbone is None or not hasattr(backbone, "out_dim"):
        raise ConfigError(f"{args.run}: the run's task has no image `backbone` giving feature maps")
    if args.init not in INITS:
        raise ConfigError(f"--init must be one of {INITS}, got {args.init!r}")
    size = args.size or int((config.get("data") or {}).get("size") or 128)
    try:
        cfg = DetectionConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            size=size,
            seed=args.seed,
            frozen_backbone=args.freeze,
        )
    except ValueError as err:
        raise ConfigError(str(err)) from None
    report = detection_report(
        backbone, args.data, cfg, args.init, device_of(args), args.train_split, args.val_split
    )
    write_json(args.out, report)
    print(json.dumps({k: report[k] for k in ("AP", "AP50", "AP75", "init", "num_train", "num_val")}))
    return 0


def add_detection(evals: argparse._SubParsersAction) -> None:
    parser = add_command(
        evals,
        "detection",
        "Faster R-CNN fine-tuned from the run's backbone on a COCO tree: AP, AP50, AP75 (pycocotools)",
    )
    parser.add_argument("--run", required=True, help="a training run directory (an image model)")
    parser.add_argument(
        "--data", required=True, help="a COCO tree: train2017/, val2017/, annotations/instances_*.json"
    )
    parser.add_argument("--train-split", default="train2017")
    parser.add_argument("--val-split", default="val2017")
    parser.add_argument("--steps", type=int, default=300, help="SGD steps of fine-tuning (0: none)")
    parser.add_argument(
        "--init", default="run", choices=["run", "random"], help="backbone weights: the run's, or random"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="images per SGD step")
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument(
        "--size", type=int, help="images resized to a shorter side of SIZE (default: the run's data.size)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--freeze",
        action="store_true",
        help="keep the backbone's weights and batch-norm statistics frozen (train the detector's heads only)",
    )
    add_device(parser)
    parser.add_argument("--out", required=True)
    parser.set_defaults(func=_cmd_detection)
