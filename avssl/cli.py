"""`avssl` command line. Training runs through `recipes/` + `accelerate launch`; this serves the rest.

Every sub-command turns a known bad-input error (MediaError, AnnotationError, ConfigError, missing file)
into one readable line on stderr and a non-zero exit; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from avssl.config import ConfigError
from avssl.data.annotations import AnnotationError
from avssl.data.decoding import MediaError

USER_ERRORS = (MediaError, AnnotationError, ConfigError, FileNotFoundError)


def _cmd_demo(args: argparse.Namespace) -> int:
    from avssl.demo import run_demo

    return run_demo(args.out, steps=args.steps, quick=args.quick, seed=args.seed)


def _cmd_selfcheck(args: argparse.Namespace) -> int:
    from avssl.data.selfcheck import run_selfcheck

    return run_selfcheck(args.out, num_windows=args.windows, seed=args.seed)


def _cmd_probe(args: argparse.Namespace) -> int:
    from avssl.data.decoding import probe

    for path in args.files:
        print(json.dumps({"path": path, **probe(path)}))
    return 0


def _cmd_decode(args: argparse.Namespace) -> int:
    from avssl.data.decoding import read_clip

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
    from avssl.data.synthetic.layouts import SynthSpec, write_synthetic

    spec = SynthSpec(
        n=args.n,
        seed=args.seed,
        size=args.size,
        duration_s=args.duration,
        fps=args.fps,
        num_classes=args.classes,
        silent=tuple(args.silent) if args.silent else None,
        sizes=tuple(args.object_sizes) if args.object_sizes else None,
    )
    out = write_synthetic(args.layout, args.out, spec)
    print(f"wrote {args.n} synthetic items in the {args.layout} layout to {out}")
    return 0


def _cmd_check_data(args: argparse.Namespace) -> int:
    from avssl.data.check import check_dataset, format_report

    report = check_dataset(args.root, args.layout, min_duration_s=args.min_duration, workers=args.workers)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0 if report["ok"] else 1


def _embeddings(args: argparse.Namespace, split: str | None) -> dict:
    """Embeddings from --embeddings E.npz, or computed from --run with --data/--layout (or files)."""
    import numpy as np

    if getattr(args, "embeddings", None):
        with np.load(args.embeddings) as data:
            return {k: data[k] for k in data.files}
    if not args.run:
        raise FileNotFoundError("give --run RUN (with --data/--layout or files) or --embeddings E.npz")
    from avssl.evaluation.embed import compute_embeddings, dataset_for_run, eval_data_config, files_dataset
    from avssl.inference.load import load_run

    task, config = load_run(args.run)
    if getattr(args, "files", None):
        dataset = files_dataset(args.files, eval_data_config(config, None, None, None))
    else:
        dataset = dataset_for_run(config, args.data, args.layout, split)
    return compute_embeddings(task, dataset, args.batch_size, args.workers)


def _write_json(path: str, data: dict) -> None:
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=1))


def _cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    emb = _embeddings(args, args.split)
    np.savez(args.out, **emb)
    print(
        f"wrote {len(emb['ids'])} embeddings (video {emb['video'].shape}, audio {emb['audio'].shape}) to {args.out}"
    )
    return 0


def _cmd_eval_retrieval(args: argparse.Namespace) -> int:
    import torch

    from avssl.evaluation.retrieval import retrieval_metrics

    emb = _embeddings(args, args.split)
    metrics = retrieval_metrics(torch.from_numpy(emb["video"]), torch.from_numpy(emb["audio"]), args.chunk)
    _write_json(args.out, metrics)
    print(json.dumps(metrics))
    return 0


def _cmd_eval_probe(args: argparse.Namespace) -> int:
    import torch

    from avssl.evaluation.probe import probe_metrics

    train, test = _embeddings(args, args.train_split), _embeddings(args, args.test_split)
    if (train["labels"] < 0).any() or (test["labels"] < 0).any():
        raise FileNotFoundError("the probe needs labelled items (the dataset has no labels)")
    features = "video" if args.modality == "video" else "audio"
    num_classes = int(max(train["labels"].max(), test["labels"].max())) + 1
    metrics = probe_metrics(
        torch.from_numpy(train[features]),
        torch.from_numpy(train["labels"]),
        torch.from_numpy(test[features]),
        torch.from_numpy(test["labels"]),
        num_classes,
    )
    metrics["modality"] = features
    _write_json(args.out, metrics)
    print(json.dumps(metrics))
    return 0


def _load_task_with(run: str, method: str):
    """(task, config) of a run directory whose task has `method` (localize / segment), else ConfigError."""
    from avssl.inference.load import load_run

    task, config = load_run(run)
    if not hasattr(task, method):
        raise ConfigError(f"{run}: the {config.get('task')} task has no {method} method")
    return task, config


def _predict_run(args: argparse.Namespace, method: str, predict: Callable, save: Callable) -> None:
    """`eval … --run`: the run's predictions on the benchmark, written to predictions.npz beside --out
    (args.predictions then points at it, so the evaluation reads them as a user's own file)."""
    from pathlib import Path

    if args.predictions or args.baseline:
        raise ConfigError("give one of --run, --predictions or --baseline")
    task, config = _load_task_with(args.run, method)
    predictions = predict(task, config.get("data", {}))
    target = Path(args.out)
    args.predictions = str((target.parent if target.suffix == ".json" else target) / "predictions.npz")
    Path(args.predictions).parent.mkdir(parents=True, exist_ok=True)
    save(args.predictions, predictions)


def _cmd_localize(args: argparse.Namespace) -> int:
    from avssl.inference.localize import LocalizeOptions, localize_video

    task, config = _load_task_with(args.run, "localize")
    options = LocalizeOptions(window_s=args.window_s, stride_s=args.stride_s, overlay=not args.no_overlay)
    failed = 0
    for video in args.videos:
        try:
            out = localize_video(task, config, video, args.out, options)
            print(f"{video}: {out}/heatmaps.npz, peaks.json" + ("" if args.no_overlay else ", overlay.mp4"))
        except MediaError as err:
            print(f"avssl localize: error: {err}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _cmd_eval_localization(args: argparse.Namespace) -> int:
    from avssl.evaluation.localization import cmd_eval_localization, save_predictions

    if args.run is not None:
        from avssl.evaluation.localization_predict import benchmark_dataset, predict_localization

        def predict(task, data_cfg):
            dataset = benchmark_dataset(args.benchmark, args.data, data_cfg)
            return predict_localization(task, dataset, num_workers=args.workers)

        _predict_run(args, "localize", predict, save_predictions)
    return cmd_eval_localization(args)


def _cmd_eval_segmentation(args: argparse.Namespace) -> int:
    from avssl.evaluation.segmentation import cmd_eval_segmentation, save_predictions

    if args.run is not None:
        from avssl.evaluation.segmentation_predict import avsbench_test_dataset, predict_segmentation

        def predict(task, data_cfg):
            dataset = avsbench_test_dataset(args.benchmark, args.data, data_cfg)
            return predict_segmentation(task, dataset, args.batch_size, args.workers)

        _predict_run(args, "segment", predict, save_predictions)
    return cmd_eval_segmentation(args)


def _cmd_segment(args: argparse.Namespace) -> int:
    from avssl.inference.segment import SegmentOptions, segment_video

    task, config = _load_task_with(args.run, "segment")
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


def _add_source_args(parser: argparse.ArgumentParser, files: bool = False, split: bool = True) -> None:
    parser.add_argument("--run", help="a training run directory")
    parser.add_argument("--data", help="dataset root (default: the run's data.root)")
    parser.add_argument("--layout", help="dataset layout (default: the run's data.layout)")
    if split:
        parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    if files:
        parser.add_argument("files", nargs="*", help="video files instead of a dataset")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avssl", description="Audio-visual self-supervised learning.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo", help="the main job on embedded synthetic data: train SSL-TIE, evaluate, localize"
    )
    demo.add_argument("--out", default="demo_out", help="output directory (created; existing files kept)")
    demo.add_argument("--steps", type=int, default=200, help="training steps")
    demo.add_argument("--quick", action="store_true", help="tiny data (for tests); numbers mean little")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_cmd_demo)

    selfcheck = sub.add_parser("selfcheck", help="check that media decoding is exact on this machine")
    selfcheck.add_argument("--out", default="selfcheck_out", help="output directory for the test clips")
    selfcheck.add_argument("--windows", type=int, default=40, help="number of random windows to decode")
    selfcheck.add_argument("--seed", type=int, default=0)
    selfcheck.set_defaults(func=_cmd_selfcheck)

    from avssl.data.datasets import INDEX_LOADERS
    from avssl.data.synthetic.layouts import SYNTH_LAYOUTS

    synth = sub.add_parser(
        "synth", help="write a synthetic dataset (real encoded media) in a benchmark layout"
    )
    synth.add_argument("--layout", required=True, choices=SYNTH_LAYOUTS)
    synth.add_argument("--out", required=True)
    synth.add_argument("--n", type=int, default=16, help="number of items")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--size", type=int, default=128, help="frame size in pixels (videos, VGG-SS images)")
    synth.add_argument("--duration", type=float, default=4.0, help="clip length in seconds")
    synth.add_argument("--fps", type=float, default=10.0)
    synth.add_argument("--classes", type=int, default=4, help="number of object/sound classes (<= 8)")
    synth.add_argument(
        "--silent", type=int, nargs=2, metavar=("MIN", "MAX"), help="silent distractors per video (default 0 1)"
    )
    synth.add_argument(
        "--object-sizes",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="video objects' size range as fractions of the frame's shorter side (default 0.25 0.4)",
    )
    synth.set_defaults(func=_cmd_synth)

    check = sub.add_parser("check-data", help="validate a dataset as downloaded; exit 0 only when clean")
    check.add_argument("root")
    check.add_argument("--layout", required=True, choices=sorted(INDEX_LOADERS))
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--min-duration", type=float, default=0.0, help="report clips shorter than this (s)")
    check.add_argument("--workers", type=int, default=2)
    check.set_defaults(func=_cmd_check_data)

    embed = sub.add_parser("embed", help="write video/audio embeddings of a dataset or of files (npz)")
    _add_source_args(embed, files=True)
    embed.add_argument("--out", required=True)
    embed.set_defaults(func=_cmd_embed)

    evaluate = sub.add_parser("eval", help="evaluate with the field's protocols")
    evals = evaluate.add_subparsers(dest="protocol", required=True)
    retrieval = evals.add_parser("retrieval", help="audio<->video retrieval: R@1/5/10, MedR, MeanR")
    _add_source_args(retrieval)
    retrieval.add_argument("--embeddings", help="an npz from `avssl embed` instead of --run")
    retrieval.add_argument("--chunk", type=int, default=2048, help="block size (memory ~ chunk^2)")
    retrieval.add_argument("--out", required=True)
    retrieval.set_defaults(func=_cmd_eval_retrieval)
    probe_eval = evals.add_parser("probe", help="kNN (k=20, cosine, weighted) and linear probe: top-1/top-5")
    _add_source_args(probe_eval, split=False)
    probe_eval.add_argument("--train-split", default="train")
    probe_eval.add_argument("--test-split", default="test")
    probe_eval.add_argument("--modality", choices=["video", "audio"], default="video")
    probe_eval.add_argument("--out", required=True)
    probe_eval.set_defaults(func=_cmd_eval_probe)
    loc = evals.add_parser(
        "localization", help="sound-source localization: cIoU and AUC as the reference code"
    )
    loc.add_argument("--benchmark", required=True, choices=["flickr", "vggss"])
    loc.add_argument("--data", required=True, help="the benchmark folder (its own layout)")
    loc.add_argument("--run", help="a trained localization run (its predictions are saved beside --out)")
    loc.add_argument("--predictions", help="P.npz: one float (H, W) map per sample id")
    loc.add_argument("--baseline", choices=["centre", "random"])
    loc.add_argument(
        "--threshold-rule",
        choices=["gt", "ge"],
        default="gt",
        help="gt: LVS / SSL-TIE binarisation; ge: EZ-VSL",
    )
    loc.add_argument("--seed", type=int, default=0)
    loc.add_argument("--workers", type=int, default=2)
    loc.add_argument("--allow-missing", action="store_true")
    loc.add_argument("--out", required=True, help="M.json path (or a folder)")
    loc.set_defaults(func=_cmd_eval_localization)

    seg = evals.add_parser(
        "segmentation", help="audio-visual segmentation on AVSBench: mIoU and F-score as the released code"
    )
    seg.add_argument("--benchmark", required=True, choices=["avsbench-s4", "avsbench-ms3"])
    seg.add_argument(
        "--data", required=True, help="the AVSBench folder (with the meta csv), test split scored"
    )
    seg.add_argument("--run", help="a trained avs run (its predictions are saved beside --out)")
    seg.add_argument("--predictions", help="P.npz: one (5, H, W) probability array per video id")
    seg.add_argument("--baseline", choices=["all-foreground", "centre-blob"])
    seg.add_argument(
        "--f-mode",
        choices=["per-frame", "avsbench"],
        default="per-frame",
        help="per-frame: batch-independent; avsbench: the released loop (depends on --batch-size)",
    )
    seg.add_argument("--batch-size", type=int, default=4, help="videos per evaluation batch (avsbench mode)")
    seg.add_argument("--workers", type=int, default=2)
    seg.add_argument("--out", required=True, help="M.json path (or a folder)")
    seg.set_defaults(func=_cmd_eval_segmentation)

    segment = sub.add_parser(
        "segment", help="masks of the sounding objects, overlay video and areas of your videos"
    )
    segment.add_argument("videos", nargs="+")
    segment.add_argument("--run", required=True, help="a trained avs run directory")
    segment.add_argument("--out", required=True)
    segment.add_argument("--no-overlay", action="store_true", help="skip rendering overlay.mp4")
    segment.set_defaults(func=_cmd_segment)

    localize = sub.add_parser(
        "localize", help="sound-source heatmaps, overlay video and peaks of your videos"
    )
    localize.add_argument("videos", nargs="+")
    localize.add_argument("--run", required=True, help="a trained localization run directory")
    localize.add_argument("--out", required=True)
    localize.add_argument("--window-s", type=float, default=1.0)
    localize.add_argument("--stride-s", type=float, default=0.5)
    localize.add_argument("--no-overlay", action="store_true", help="skip rendering overlay.mp4")
    localize.set_defaults(func=_cmd_localize)

    probe = sub.add_parser("probe", help="print duration, frame rate, size and audio facts of media files")
    probe.add_argument("files", nargs="+")
    probe.set_defaults(func=_cmd_probe)

    decode = sub.add_parser("decode", help="decode one window of a video and print what came back")
    decode.add_argument("file")
    decode.add_argument("--start", type=float, default=0.0)
    decode.add_argument("--duration", type=float, default=1.0)
    decode.add_argument("--fps", type=float, default=8.0)
    decode.add_argument("--size", type=int, default=None, help="shorter side in pixels (default: native)")
    decode.add_argument("--sample-rate", type=int, default=16000)
    decode.add_argument("--channels", type=int, default=1, choices=[1, 2])
    decode.set_defaults(func=_cmd_decode)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `avssl` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    if args.debug:
        return func(args)
    try:
        return func(args)
    except USER_ERRORS as err:
        print(f"avssl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"avssl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
