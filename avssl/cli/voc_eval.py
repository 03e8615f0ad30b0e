"""`avssl eval dense-probe | voc-classification`: a run's frozen image model on a Pascal VOC tree (the
download's VOCdevkit/VOC20xx, or `avssl synth --layout voc`): the dense linear probe (mIoU, pixel accuracy;
`avssl.evaluation.dense`) and the VOC07 linear classification protocol (11-point mAP;
`avssl.evaluation.voc_cls`)."""

from __future__ import annotations

import argparse
import json

from avssl.cli.common import add_command, add_device, device_of, write_json
from avssl.config import ConfigError


def _task_and_size(args: argparse.Namespace):
    """(task in eval mode, input size: --size, else the run's data.size, else 224)."""
    from avssl.inference.load import load_run

    task, config = load_run(args.run, device_of(args))
    size = args.size or int((config.get("data") or {}).get("size") or 224)
    if size < 1:
        raise ConfigError(f"--size must be at least 1, got {size}")
    return task.eval(), size


def _cmd_dense_probe(args: argparse.Namespace) -> int:
    from avssl.device import module_device
    from avssl.evaluation.dense import voc_dense_report

    task, size = _task_and_size(args)
    backbone = getattr(task, "backbone", None)
    if backbone is None:
        raise ConfigError(f"{args.run}: the run's task has no `backbone` giving feature maps")
    report = voc_dense_report(
        backbone, args.data, args.train_split, args.test_split, size, module_device(task), args.batch_size
    )
    write_json(args.out, report)
    print(json.dumps({k: report[k] for k in ("mIoU", "pixel_acc", "mIoU_all_background", "num_val")}))
    return 0


def _cmd_voc_classification(args: argparse.Namespace) -> int:
    from avssl.device import module_device
    from avssl.evaluation.voc_cls import voc_classification_report

    task, size = _task_and_size(args)
    if "video" not in getattr(task, "embeds", ()):
        raise ConfigError(f"{args.run}: the run's task has no video embedding")

    def pooled(images):
        return task.embed({"video": images[:, :, None]}, "video")

    report = voc_classification_report(
        pooled, args.data, args.train_split, args.test_split, size, module_device(task), args.batch_size
    )
    write_json(args.out, report)
    print(json.dumps({k: report[k] for k in ("mAP", "classes_scored", "num_test")}))
    return 0


def _add_voc_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="a training run directory (an image model)")
    parser.add_argument(
        "--data", required=True, help="a VOC tree: VOC20xx/ (JPEGImages, …), VOCdevkit/ or its parent"
    )
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--test-split", default="val")
    parser.add_argument(
        "--size", type=int, help="images resized to SIZE x SIZE (default: the run's data.size)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    add_device(parser)
    parser.add_argument("--out", required=True)


def add_dense_probe(evals: argparse._SubParsersAction) -> None:
    parser = add_command(
        evals, "dense-probe", "linear 1x1 head on frozen feature maps, VOC segmentation: mIoU, pixel accuracy"
    )
    _add_voc_source(parser)
    parser.set_defaults(func=_cmd_dense_probe)


def add_voc_classification(evals: argparse._SubParsersAction) -> None:
    parser = add_command(
        evals,
        "voc-classification",
        "VOC07 linear protocol: one-vs-rest logistic on pooled features, 11-point mAP",
    )
    _add_voc_source(parser)
    parser.set_defaults(func=_cmd_voc_classification)
