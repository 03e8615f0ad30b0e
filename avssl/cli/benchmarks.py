"""`avssl eval localization | segmentation`: score a run, a user's P.npz or a baseline on a benchmark
folder, write M.json (a .json --out, or OUT/M.json) and print it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from avssl.cli.common import add_command, add_device, device_of, load_task_with
from avssl.config import ConfigError
from avssl.outputs import free_path, write_json


def _metrics_path(out: str) -> Path:
    """--out as given when it names a .json file, else OUT/M.json."""
    return Path(out) if Path(out).suffix == ".json" else Path(out) / "M.json"


def _predict_run(args: argparse.Namespace, method: str, predict: Callable, save: Callable) -> None:
    """`eval … --run`: the run's predictions on the benchmark (on --device), written beside --out to
    predictions.npz — or, when a file of that name is there already, to the first free predictions-N.npz,
    so a user's own file is never overwritten (args.predictions then points at it, so the evaluation reads
    them as a user's own file, and the metrics name it)."""
    if args.predictions or args.baseline:
        raise ConfigError("give one of --run, --predictions or --baseline")
    task, config = load_task_with(args.run, method, device_of(args))
    predictions = predict(task, config)  # on the task's device
    args.predictions = str(free_path(_metrics_path(args.out).parent / "predictions.npz"))
    Path(args.predictions).parent.mkdir(parents=True, exist_ok=True)
    save(args.predictions, predictions)


def _cmd_eval_localization(args: argparse.Namespace) -> int:
    """Score P.npz (--predictions, or the run's own with --run) or a baseline (--baseline centre|random)."""
    from avssl.data.datasets import load_index
    from avssl.evaluation import localization as loc

    if args.run is not None:
        from avssl.evaluation.localization_predict import benchmark_dataset, predict_localization

        def predict(task, config):
            dataset = benchmark_dataset(args.benchmark, args.data, config.get("data", {}))
            run_eval = config.get("eval") or {}
            ogl = args.ogl if args.ogl is not None else run_eval.get("ogl_alpha")
            args.threshold_rule = args.threshold_rule or run_eval.get("rule")  # the run's own by default
            return predict_localization(task, dataset, args.batch_size, args.workers, ogl_alpha=ogl)

        _predict_run(args, "localize", predict, loc.save_predictions)
    if (args.predictions is None) == (args.baseline is None):
        print(
            "avssl eval localization: error: give exactly one of --predictions or --baseline", file=sys.stderr
        )
        return 2
    if args.predictions is not None:
        predictions = loc.load_predictions(args.predictions)
    else:
        ids = [item.id for item in load_index(args.benchmark, args.data).items]
        predictions = loc.baseline_predictions(args.baseline, ids, seed=args.seed)
    metrics = loc.evaluate_localization(
        args.benchmark, args.data, predictions, args.threshold_rule or "gt", allow_missing=args.allow_missing
    )
    metrics["predictions"] = str(args.predictions) if args.predictions is not None else None
    metrics["baseline"] = args.baseline
    write_json(_metrics_path(args.out), metrics, indent=2)
    print(json.dumps(metrics, indent=2))
    return 0


def _cmd_eval_segmentation(args: argparse.Namespace) -> int:
    """Score P.npz (--predictions, or the run's own with --run) or a baseline (--baseline)."""
    from avssl.evaluation import segmentation as seg

    if args.run is not None:
        from avssl.evaluation.segmentation_predict import avsbench_test_dataset, predict_segmentation

        def predict(task, config):
            dataset = avsbench_test_dataset(args.benchmark, args.data, config.get("data", {}))
            args.f_mode = args.f_mode or (config.get("eval") or {}).get("f_mode")  # the run's own by default
            return predict_segmentation(task, dataset, args.batch_size, args.workers)

        _predict_run(args, "segment", predict, seg.save_predictions)
    if (args.predictions is None) == (args.baseline is None):
        print(
            "avssl eval segmentation: error: give one of --run, --predictions or --baseline", file=sys.stderr
        )
        return 2
    if args.batch_size < 1:
        print("avssl eval segmentation: error: --batch-size must be ≥ 1", file=sys.stderr)
        return 2
    if args.predictions is not None:
        predictions = seg.load_predictions(args.predictions)
    else:
        items = seg.benchmark_test_items(args.benchmark, args.data)
        predictions = seg.baseline_predictions(args.baseline, items)
    f_mode = args.f_mode or "per-frame"
    metrics = seg.evaluate_segmentation(args.benchmark, args.data, predictions, f_mode, args.batch_size)
    if args.run is not None:
        metrics["predictions"] = str(args.predictions)  # where the run's own predictions were saved
    write_json(_metrics_path(args.out), metrics, indent=2)
    print(json.dumps(metrics))
    return 0


def add_localization(evals: argparse._SubParsersAction) -> None:
    loc = add_command(evals, "localization", "sound-source localization: cIoU and AUC as the reference code")
    loc.add_argument("--benchmark", required=True, choices=["flickr", "vggss"])
    loc.add_argument("--data", required=True, help="the benchmark folder (its own layout)")
    loc.add_argument("--run", help="a trained localization run (its predictions are saved beside --out)")
    loc.add_argument("--predictions", help="P.npz: one float (H, W) map per sample id")
    loc.add_argument("--baseline", choices=["centre", "random"])
    loc.add_argument(
        "--threshold-rule",
        choices=["gt", "ge"],
        help="gt: LVS / SSL-TIE binarisation; ge: EZ-VSL (default: with --run the run's eval.rule, else gt)",
    )
    loc.add_argument("--seed", type=int, default=0)
    loc.add_argument("--workers", type=int, default=2)
    loc.add_argument("--batch-size", type=int, default=16, help="clips per forward pass (with --run)")
    add_device(loc)
    loc.add_argument(
        "--ogl",
        type=float,
        metavar="ALPHA",
        help="with --run (EZ-VSL): object-guided localization, alpha·AV + (1−alpha)·objectness (paper: 0.4; "
        "default: the run's eval.ogl_alpha)",
    )
    loc.add_argument("--allow-missing", action="store_true")
    loc.add_argument("--out", required=True, help="M.json path (or a folder)")
    loc.set_defaults(func=_cmd_eval_localization)


def add_segmentation(evals: argparse._SubParsersAction) -> None:
    seg = add_command(
        evals, "segmentation", "audio-visual segmentation on AVSBench: mIoU and F-score as the released code"
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
        help="per-frame: batch-independent; avsbench: the released loop (depends on --batch-size); default: "
        "with --run the run's eval.f_mode, else per-frame",
    )
    seg.add_argument("--batch-size", type=int, default=4, help="videos per evaluation batch (avsbench mode)")
    seg.add_argument("--workers", type=int, default=2)
    add_device(seg)
    seg.add_argument("--out", required=True, help="M.json path (or a folder)")
    seg.set_defaults(func=_cmd_eval_segmentation)
