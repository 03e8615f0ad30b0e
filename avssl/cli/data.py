"""`avssl selfcheck | synth | check-data | probe | decode`: media decoding and datasets on disk."""

from __future__ import annotations

import argparse
import json
import sys

from avssl.cli.common import add_command, check_positive


def _cmd_selfcheck(args: argparse.Namespace) -> int:
    from avssl.data.selfcheck import run_selfcheck

    return run_selfcheck(args.out, num_windows=args.windows, seed=args.seed)


def _cmd_probe(args: argparse.Namespace) -> int:
    """One JSON line per readable file; every unreadable one reported on stderr (exit 2 if any)."""
    from avssl.data.decoding import MediaError, probe

    failed = 0
    for path in args.files:
        try:
            print(json.dumps({"path": path, **probe(path)}))
        except (MediaError, FileNotFoundError) as err:
            print(f"avssl probe: error: {err}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


def _cmd_decode(args: argparse.Namespace) -> int:
    from avssl.data.decoding import read_clip

    check_positive(args, "duration", "fps", "size", "sample_rate")
    clip = read_clip(
        args.file,
        args.start,
        args.duration,
        fps=args.fps,
        size=args.size,
        sample_rate=args.sample_rate,
        channels=args.channels,
    )
    summary = {
        "path": clip.path,
        "frames": list(clip.frames.shape) if clip.frames is not None else None,
        "frame_times": [round(t, 4) for t in clip.frame_times.tolist()]
        if clip.frame_times is not None
        else None,
        "audio": list(clip.audio.shape) if clip.audio is not None else None,
        "padded": clip.padded,
        "num_valid_frames": clip.num_valid_frames,
        "num_valid_samples": clip.num_valid_samples,
    }
    print(json.dumps(summary))
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from avssl.data.synthetic.layouts import ACTION_SYNTH_LAYOUTS, SynthSpec, action_spec, write_synthetic

    check_positive(args, "n", "size", "duration", "fps", "classes")
    spec = SynthSpec(
        n=args.n,
        seed=args.seed,
        size=args.size,
        duration_s=args.duration,
        fps=args.fps,
        num_classes=args.classes,
        silent=tuple(args.silent) if args.silent else None,
        sizes=tuple(args.object_sizes) if args.object_sizes else None,
        background_p=args.background_p,
    )
    out = write_synthetic(args.layout, args.out, spec)
    count = args.n
    if args.layout in ACTION_SYNTH_LAYOUTS:
        action = action_spec(spec)
        count = action.num_classes * action.clips_per_class
        print(f"(background-swapped test copy and masks in {out / 'background_swapped'})")
    print(f"wrote {count} synthetic items in the {args.layout} layout to {out}")
    return 0


def _cmd_check_data(args: argparse.Namespace) -> int:
    from avssl.data.check import check_dataset, format_report

    report = check_dataset(args.root, args.layout, min_duration_s=args.min_duration, workers=args.workers)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0 if report["ok"] else 1


def add_selfcheck(sub: argparse._SubParsersAction) -> None:
    selfcheck = add_command(sub, "selfcheck", "check that media decoding is exact on this machine")
    selfcheck.add_argument("--out", default="selfcheck_out", help="output directory for the test clips")
    selfcheck.add_argument("--windows", type=int, default=40, help="number of random windows to decode")
    selfcheck.add_argument("--seed", type=int, default=0)
    selfcheck.set_defaults(func=_cmd_selfcheck)


def add_synth(sub: argparse._SubParsersAction) -> None:
    from avssl.data.synthetic.layouts import ACTION_SYNTH_LAYOUTS, IMAGE_SYNTH_LAYOUTS, SYNTH_LAYOUTS

    synth = add_command(sub, "synth", "write a synthetic dataset (real encoded media) in a benchmark layout")
    synth.add_argument(
        "--layout", required=True, choices=[*SYNTH_LAYOUTS, *ACTION_SYNTH_LAYOUTS, *IMAGE_SYNTH_LAYOUTS]
    )
    synth.add_argument("--out", required=True)
    synth.add_argument("--n", type=int, default=16, help="number of items")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--size", type=int, default=128, help="frame size in pixels (videos, VGG-SS images)")
    synth.add_argument("--duration", type=float, default=4.0, help="clip length in seconds")
    synth.add_argument("--fps", type=float, default=10.0)
    synth.add_argument(
        "--classes",
        type=int,
        default=4,
        help="number of object/sound classes (<= 8; action layouts: motions, <= 10)",
    )
    synth.add_argument(
        "--silent",
        type=int,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="silent distractors per video (default 0 1); imagefolder / voc / coco: objects per image besides "
        "the largest (default 0 0 / 0 2 / 0 2)",
    )
    synth.add_argument(
        "--object-sizes",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="video objects' size range as fractions of the frame's shorter side (default 0.25 0.4)",
    )
    synth.add_argument(
        "--background-p",
        type=float,
        default=0.8,
        help="action layouts: probability that a train clip shows its class's background family (the trap); "
        "imagefolder: that an image does",
    )
    synth.set_defaults(func=_cmd_synth)


def add_check_data(sub: argparse._SubParsersAction) -> None:
    from avssl.data.datasets import INDEX_LOADERS

    check = add_command(sub, "check-data", "validate a dataset as downloaded; exit 0 only when clean")
    check.add_argument("root")
    check.add_argument("--layout", required=True, choices=sorted([*INDEX_LOADERS, "shards"]))
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--min-duration", type=float, default=0.0, help="report clips shorter than this (s)")
    check.add_argument("--workers", type=int, default=2)
    check.set_defaults(func=_cmd_check_data)


def add_probe(sub: argparse._SubParsersAction) -> None:
    probe = add_command(sub, "probe", "print duration, frame rate, size and audio facts of media files")
    probe.add_argument("files", nargs="+")
    probe.set_defaults(func=_cmd_probe)


def add_decode(sub: argparse._SubParsersAction) -> None:
    decode = add_command(sub, "decode", "decode one window of a video and print what came back")
    decode.add_argument("file")
    decode.add_argument("--start", type=float, default=0.0)
    decode.add_argument("--duration", type=float, default=1.0)
    decode.add_argument("--fps", type=float, default=8.0)
    decode.add_argument("--size", type=int, default=None, help="shorter side in pixels (default: native)")
    decode.add_argument("--sample-rate", type=int, default=16000)
    decode.add_argument("--channels", type=int, default=1, choices=[1, 2])
    decode.set_defaults(func=_cmd_decode)


COMMANDS = {
    "selfcheck": add_selfcheck,
    "synth": add_synth,
    "check-data": add_check_data,
    "probe": add_probe,
    "decode": add_decode,
}
