"""`avssl eval segments`: the segments a CYBORGS run makes — its superpixel start, the momentum network's
k-means clusters voted within superpixels (what its bank stores), the same unvoted (the paper's) — scored
against the annotated instance masks of an image folder (`ROOT/<split>/<class>/<image>` with
`ROOT/masks/<split>/<class>/<image>.png`, as `avssl synth --layout imagefolder` writes): best-overlap mIoU
(`avssl.evaluation.segments`), next to one segment per image."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avssl.cli.common import add_command, add_device, device_of, write_json
from avssl.config import ConfigError


def _cmd_segments(args: argparse.Namespace) -> int:
    from avssl.data.datasets.image_folder import MASKS_DIR
    from avssl.inference.load import load_run
    from avssl.runner.cyborgs_data import segment_report

    masks = Path(args.data) / MASKS_DIR / args.split
    if not masks.is_dir():
        raise ConfigError(f"{masks}: no instance masks (an annotated image folder has masks/<split>/…)")
    task, _ = load_run(args.run, device_of(args))
    if not callable(getattr(task, "segment_images", None)):
        raise ConfigError(f"{args.run}: the run's task makes no segments (a CYBORGS run does)")
    report = segment_report(task.eval(), args.data, args.split, batch=args.batch_size)
    write_json(args.out, report)
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in report.items()}))
    return 0


def add_segments(evals: argparse._SubParsersAction) -> None:
    parser = add_command(
        evals, "segments", "a CYBORGS run's segments against annotated instance masks: best-overlap mIoU"
    )
    parser.add_argument("--run", required=True, help="a CYBORGS training run directory")
    parser.add_argument("--data", required=True, help="an image folder with masks/<split>/ (instance masks)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--batch-size", type=int, default=32)
    add_device(parser)
    parser.add_argument("--out", required=True)
    parser.set_defaults(func=_cmd_segments)
