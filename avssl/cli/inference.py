"""`avssl localize | segment`: a trained run applied to a user's own videos."""

from __future__ import annotations

import argparse
import sys

from avssl.cli.common import add_command, add_device, check_positive, device_of, load_task_with
from avssl.data.decoding import MediaError


def _cmd_localize(args: argparse.Namespace) -> int:
    from avssl.inference.eval_input import run_window_s
    from avssl.inference.localize import LocalizeOptions, localize_video

    check_positive(args, "window_s", "stride_s")
    task, config = load_task_with(args.run, "localize", device_of(args))  # inputs follow the task
    window_s = args.window_s if args.window_s is not None else run_window_s(config) or 1.0
    ogl = args.ogl if args.ogl is not None else (config.get("eval") or {}).get("ogl_alpha")
    options = LocalizeOptions(
        window_s=window_s,
        stride_s=args.stride_s,
        batch_size=args.batch_size,
        overlay=not args.no_overlay,
        ogl_alpha=ogl,
    )
    failed = 0
    for video in args.videos:
        try:
            out = localize_video(task, config, video, args.out, options)
            print(f"{video}: {out}/heatmaps.npz, peaks.json" + ("" if args.no_overlay else ", overlay.mp4"))
        except MediaError as err:
            print(f"avssl localize: error: {err}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _cmd_segment(args: argparse.Namespace) -> int:
    from avssl.inference.segment import SegmentOptions, segment_video

    task, config = load_task_with(args.run, "segment", device_of(args))  # inputs follow the task
    options = SegmentOptions(overlay=not args.no_overlay)
    failed = 0
    for video in args.videos:
        try:
            out = segment_video(task, config, video, args.out, options)
            print(f"{video}: {out}/masks.npz, frames.json" + ("" if args.no_overlay else ", overlay.mp4"))
        except MediaError as err:
            print(f"avssl segment: error: {err}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def add_segment(sub: argparse._SubParsersAction) -> None:
    segment = add_command(
        sub, "segment", "masks of the sounding objects, overlay video and areas of your videos"
    )
    segment.add_argument("videos", nargs="+")
    segment.add_argument("--run", required=True, help="a trained avs run directory")
    segment.add_argument("--out", required=True)
    segment.add_argument("--no-overlay", action="store_true", help="skip rendering overlay.mp4")
    add_device(segment)
    segment.set_defaults(func=_cmd_segment)


def add_localize(sub: argparse._SubParsersAction) -> None:
    localize = add_command(sub, "localize", "sound-source heatmaps, overlay video and peaks of your videos")
    localize.add_argument("videos", nargs="+")
    localize.add_argument("--run", required=True, help="a trained localization run directory")
    localize.add_argument("--out", required=True)
    localize.add_argument(
        "--window-s",
        type=float,
        help="audio window per map (default: 1.0; an imported published model: its clip length)",
    )
    localize.add_argument("--stride-s", type=float, default=0.5)
    localize.add_argument("--no-overlay", action="store_true", help="skip rendering overlay.mp4")
    localize.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    add_device(localize)
    localize.add_argument(
        "--ogl",
        type=float,
        metavar="ALPHA",
        help="EZ-VSL runs: object-guided localization, alpha·AV + (1−alpha)·objectness (paper: 0.4; "
        "default: the run's eval.ogl_alpha)",
    )
    localize.set_defaults(func=_cmd_localize)


COMMANDS = {"segment": add_segment, "localize": add_localize}
