"""`avssl embed` and `avssl eval retrieval | probe | localization | segmentation | action | video-retrieval |
frames | tracking | saliency | dense-probe | voc-classification | change-detection | detection |
segments`: the field's protocols.

The metrics are pure functions in avssl.evaluation; this module reads the command line, gets embeddings or
predictions (from a run, a file or a baseline), calls them and writes M.json / the npz.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from avssl.cli import benchmarks, change_eval, coco_eval, segment_eval, voc_eval
from avssl.cli.common import add_command, add_device, device_of, write_json
from avssl.config import ConfigError


def load_embeddings(path: str, modalities: list[str]) -> dict:
    """The arrays of an `avssl embed` npz; a file that is not one, is truncated, or lacks one of
    `modalities` is a ConfigError naming it (no pickles are loaded)."""
    import zipfile

    import numpy as np

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: embeddings file not found")
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"{path}: not an .npz archive (write one with `avssl embed`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, AttributeError) as err:
        raise ConfigError(f"{path}: not a readable .npz of embeddings from `avssl embed` ({err})") from None
    missing = [m for m in modalities if m not in arrays]
    if missing:
        raise ConfigError(f"{path}: no {', '.join(missing)} embeddings (has: {', '.join(sorted(arrays))})")
    return arrays


def _embeddings(args: argparse.Namespace, split: str | None, modalities: list[str] | None = None) -> dict:
    """Embeddings from --embeddings E.npz, or computed from --run with --data/--layout (or files): the
    `modalities` asked for, default every modality the run's task embeds."""
    if getattr(args, "embeddings", None):
        return load_embeddings(args.embeddings, modalities or [])
    if not args.run:
        raise FileNotFoundError("give --run RUN (with --data/--layout or files) or --embeddings E.npz")
    from avssl.evaluation.embed import dataset_for_run, embed, eval_data_config, files_dataset
    from avssl.inference.load import load_run

    task, config = load_run(args.run, device_of(args))
    if getattr(args, "files", None):
        dataset = files_dataset(args.files, eval_data_config(config, None, None, None))
    else:
        dataset = dataset_for_run(config, args.data, args.layout, split)
    return embed(task, dataset, args.batch_size, args.workers, modalities=modalities)  # on the task's device


def _cmd_embed(args: argparse.Namespace) -> int:
    from avssl.outputs import save_npz

    emb = _embeddings(args, args.split)
    save_npz(args.out, **emb)
    shapes = ", ".join(f"{k} {v.shape}" for k, v in emb.items() if k not in ("ids", "labels"))
    print(f"wrote {len(emb['ids'])} embeddings ({shapes}) to {args.out}")
    return 0


def _cmd_eval_retrieval(args: argparse.Namespace) -> int:
    import torch

    from avssl.evaluation.retrieval import retrieval_metrics

    emb = _embeddings(args, args.split, ["video", "audio"])
    source = args.embeddings or args.run or "embeddings"
    metrics = retrieval_metrics(
        torch.from_numpy(emb["video"]), torch.from_numpy(emb["audio"]), args.chunk, source=source
    )
    write_json(args.out, metrics)
    print(json.dumps(metrics))
    return 0


def check_probe_splits(train_split: str | None, test_split: str | None, train_ids, test_ids) -> None:
    """A ConfigError (one line) when the probe would score on its training items: equal split names (both
    None included), or two splits holding the same items (a layout that has no such splits, e.g. a folder
    whose labels.csv has no `split` column, gives every item to both). Ids None: names only."""
    if train_split == test_split:
        raise ConfigError(
            f"--train-split and --test-split are both {train_split!r}: the probe would score on its "
            "training items"
        )
    if train_ids is not None and list(train_ids) == list(test_ids):
        raise ConfigError(
            f"splits {train_split!r} and {test_split!r} hold the same {len(train_ids)} items: the "
            "data has no such splits (give labels.csv / the manifest a `split` column)"
        )


def _cmd_eval_probe(args: argparse.Namespace) -> int:
    import torch

    from avssl.evaluation.probe import probe_metrics

    features = args.modality
    check_probe_splits(args.train_split, args.test_split, None, None)
    train, test = (
        _embeddings(args, args.train_split, [features]),
        _embeddings(args, args.test_split, [features]),
    )
    check_probe_splits(args.train_split, args.test_split, train["ids"].tolist(), test["ids"].tolist())
    if (train["labels"] < 0).any() or (test["labels"] < 0).any():
        raise FileNotFoundError("the probe needs labelled items (the dataset has no labels)")
    num_classes = int(max(train["labels"].max(), test["labels"].max())) + 1
    metrics = probe_metrics(
        torch.from_numpy(train[features]),
        torch.from_numpy(train["labels"]),
        torch.from_numpy(test[features]),
        torch.from_numpy(test["labels"]),
        num_classes,
    )
    metrics["modality"] = features
    write_json(args.out, metrics)
    print(json.dumps(metrics))
    return 0


def _action_source(args: argparse.Namespace):
    """(task, data config) of --run pointed at --data / --layout / --split-index (default: the run's)."""
    from avssl.evaluation.embed import eval_data_config
    from avssl.inference.load import load_run

    if args.clips < 1:
        raise ConfigError(f"--clips must be at least 1, got {args.clips}")
    task, config = load_run(args.run, device_of(args))
    data = eval_data_config(config, args.data, args.layout, None)
    if args.split_index is not None:
        data.split_index = args.split_index
    if not data.root:
        raise ConfigError(f"{args.run}: the run has no data.root; give --data")
    return task, data


def _action_features(args: argparse.Namespace) -> dict:
    """{"train", "test", "swapped" (or None)}: multi-clip features of a run's encoder on the train / test
    splits of --data (default: the run's data.root), and of its background-swapped copy when asked."""
    from avssl.evaluation.action import clip_features, swapped_config

    task, data = _action_source(args)
    common = (args.clips, args.batch_size, args.workers)
    features = {
        "train": clip_features(task, data, args.train_split, *common),
        "test": clip_features(task, data, args.test_split, *common),
        "swapped": None,
    }
    if getattr(args, "background_swapped", False):
        features["swapped"] = clip_features(task, swapped_config(data), args.test_split, *common)
    return features


def _finetune_report(args: argparse.Namespace) -> dict:
    """Fine-tune a copy of the run's task on the training split, then the multi-clip test (and the swapped
    copy's, with the drop)."""
    from avssl.data.datasets import load_index
    from avssl.evaluation.action import swapped_config
    from avssl.evaluation.finetune import FinetuneConfig, clip_logits, finetune, finetune_accuracy

    task, data = _action_source(args)
    labels = [i.label for i in load_index(data.layout, data.root, None, data.split_index).items]
    num_classes = 1 + max((label for label in labels if label is not None), default=0)
    cfg = FinetuneConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, num_workers=args.workers)
    classifier = finetune(task, data, args.train_split, num_classes, cfg)
    report = finetune_accuracy(*clip_logits(classifier, data, args.test_split, args.clips), args.clips)
    if args.background_swapped:
        swapped = swapped_config(data)
        moved = finetune_accuracy(*clip_logits(classifier, swapped, args.test_split, args.clips), args.clips)
        report["background_swapped"] = moved
        report["drop"] = {k: report[k] - moved[k] for k in ("top1", "top5")}
    return {**report, "steps": args.steps, "lr": args.lr}


def _cmd_eval_action(args: argparse.Namespace) -> int:
    from avssl.evaluation.action import probe_report

    check_probe_splits(args.train_split, args.test_split, None, None)
    if args.steps < 1 or not args.lr > 0:
        raise ConfigError(f"--steps must be >= 1 and --lr > 0, got {args.steps} and {args.lr}")
    if args.protocol == "finetune":
        metrics = {"protocol": "finetune", **_finetune_report(args), "num_clips": args.clips}
        write_json(args.out, metrics)
        print(json.dumps(metrics))
        return 0
    feats = _action_features(args)
    train, test = feats["train"], feats["test"]
    check_probe_splits(args.train_split, args.test_split, train.ids, test.ids)
    num_classes = 1 + int(max(train.labels.max(), test.labels.max()))
    metrics = {
        "protocol": args.protocol,
        **probe_report(args.protocol, train, test, feats["swapped"], num_classes),
        "num_clips": args.clips,
        "num_train_videos": len(train.ids),
    }
    write_json(args.out, metrics)
    print(json.dumps(metrics))
    return 0


def _cmd_eval_video_retrieval(args: argparse.Namespace) -> int:
    from avssl.evaluation.action import video_retrieval_metrics

    check_probe_splits(args.train_split, args.test_split, None, None)
    feats = _action_features(args)
    train, test = feats["train"], feats["test"]
    metrics = video_retrieval_metrics(test.features, test.clip_labels, train.features, train.clip_labels)
    metrics["num_clips"] = args.clips
    write_json(args.out, metrics)
    print(json.dumps(metrics))
    return 0


def _cmd_eval_frames(args: argparse.Namespace) -> int:
    from avssl.evaluation.embed import eval_data_config
    from avssl.evaluation.frames import frame_features, frame_report
    from avssl.inference.load import load_run

    if args.stride < 1:
        raise ConfigError(f"--stride must be at least 1, got {args.stride}")
    task, config = load_run(args.run, device_of(args))
    data = eval_data_config(config, args.data, args.layout, None)
    if not data.root:
        raise ConfigError(f"{args.run}: the run has no data.root; give --data")
    if data.layout not in ("pennaction", "pouring"):
        raise ConfigError(
            f"frame-level evaluation reads a phase-labelled layout (pennaction, pouring), not {data.layout!r}"
        )
    train = frame_features(task, data, args.train_split)
    val = frame_features(task, data, args.test_split)
    metrics = frame_report(train, val, args.stride)
    metrics.update(frame_embeddings="embed_frames" if hasattr(task, "embed_frames") else "per-frame clips")
    write_json(args.out, metrics)
    print(json.dumps({k: v for k, v in metrics.items() if k != "per_action"}))
    return 0


def _cmd_eval_tracking(args: argparse.Namespace) -> int:
    from avssl.evaluation.tracking import tracking_report
    from avssl.inference.load import load_run

    task, config = load_run(args.run, device_of(args))
    encoder = getattr(task, "encoder", None)
    if encoder is None:
        raise ConfigError(f"{args.run}: the run's task has no `encoder` to track with")
    size = args.size or int(config.get("data", {}).get("size") or 112)
    metrics = tracking_report(encoder.eval(), args.data, size)
    metrics["size"] = size
    write_json(args.out, metrics)
    print(json.dumps({k: metrics[k] for k in ("success_auc", "precision@20", "num_sequences")}))
    return 0


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
    add_device(parser)


def add_embed(sub: argparse._SubParsersAction) -> None:
    embed = add_command(sub, "embed", "write video/audio embeddings of a dataset or of files (npz)")
    _add_source_args(embed, files=True)
    embed.add_argument("--out", required=True)
    embed.set_defaults(func=_cmd_embed)


def _add_retrieval(evals: argparse._SubParsersAction) -> None:
    retrieval = add_command(evals, "retrieval", "audio<->video retrieval: R@1/5/10, MedR, MeanR")
    _add_source_args(retrieval)
    retrieval.add_argument("--embeddings", help="an npz from `avssl embed` instead of --run")
    retrieval.add_argument("--chunk", type=int, default=2048, help="block size (memory ~ chunk^2)")
    retrieval.add_argument("--out", required=True)
    retrieval.set_defaults(func=_cmd_eval_retrieval)


def _add_probe(evals: argparse._SubParsersAction) -> None:
    probe = add_command(evals, "probe", "kNN (k=20, cosine, weighted) and linear probe: top-1/top-5")
    _add_source_args(probe, split=False)
    probe.add_argument("--train-split", default="train")
    probe.add_argument("--test-split", default="test")
    probe.add_argument("--modality", choices=["video", "audio"], default="video")
    probe.add_argument("--out", required=True)
    probe.set_defaults(func=_cmd_eval_probe)


def _add_action_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="a training run directory")
    parser.add_argument("--data", help="dataset root (default: the run's data.root)")
    parser.add_argument(
        "--layout", help="ucf101, hmdb51, kinetics, diving48 (default: the run's data.layout)"
    )
    parser.add_argument(
        "--split-index", type=int, choices=[1, 2, 3], help="official split (default: the run's)"
    )
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--test-split", default="test")
    parser.add_argument(
        "--clips", type=int, default=10, help="clips per video, uniformly spaced (default: 10)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="clips per forward pass")
    parser.add_argument("--workers", type=int, default=2)
    add_device(parser)
    parser.add_argument("--out", required=True)


def _add_action(evals: argparse._SubParsersAction) -> None:
    action = add_command(
        evals, "action", "action recognition: linear probe / kNN, multi-clip test, top-1/top-5 per video"
    )
    _add_action_source(action)
    action.add_argument(
        "--protocol",
        choices=["linear", "knn", "finetune"],
        default="linear",
        help="linear: logistic regression on frozen clip features; knn: k=20 cosine, weighted; "
        "finetune: the encoder and a linear classifier trained end to end",
    )
    action.add_argument("--steps", type=int, default=200, help="finetune: training steps (AdamW)")
    action.add_argument("--lr", type=float, default=1e-3, help="finetune: learning rate")
    action.add_argument(
        "--background-swapped",
        action="store_true",
        help="also score DATA/background_swapped (avssl synth) and report the drop",
    )
    action.set_defaults(func=_cmd_eval_action)


def _add_video_retrieval(evals: argparse._SubParsersAction) -> None:
    retrieval = add_command(
        evals, "video-retrieval", "test clips query train clips: R@1/5/10/20/50 (a clip of its class)"
    )
    _add_action_source(retrieval)
    retrieval.set_defaults(func=_cmd_eval_video_retrieval)


def _add_frames(evals: argparse._SubParsersAction) -> None:
    frames = add_command(
        evals,
        "frames",
        "frame-level: phase classification, phase progression, Kendall's tau, frame retrieval AP@5/10/15",
    )
    frames.add_argument("--run", required=True, help="a training run directory")
    frames.add_argument(
        "--data", help="a Penn Action root with phases/ or a Pouring root (default: the run's)"
    )
    frames.add_argument("--layout", help="pennaction or pouring (default: the run's data.layout)")
    frames.add_argument("--train-split", default="train")
    frames.add_argument("--test-split", default="val")
    frames.add_argument(
        "--stride",
        type=int,
        default=1,
        help="frame subsampling for tau and retrieval (the authors: 2 on Penn Action)",
    )
    add_device(frames)
    frames.add_argument("--out", required=True)
    frames.set_defaults(func=_cmd_eval_frames)


def _add_tracking(evals: argparse._SubParsersAction) -> None:
    tracking = add_command(
        evals,
        "tracking",
        "track from the first frame's box on frozen features: OTB success AUC, precision@20",
    )
    tracking.add_argument("--run", required=True, help="a training run directory")
    tracking.add_argument(
        "--data", required=True, help="an OTB-layout folder (<Sequence>/img, groundtruth_rect.txt)"
    )
    tracking.add_argument(
        "--size", type=int, help="shorter side of the frames fed to the encoder (default: data.size)"
    )
    add_device(tracking)
    tracking.add_argument("--out", required=True)
    tracking.set_defaults(func=_cmd_eval_tracking)


def _cmd_eval_saliency(args: argparse.Namespace) -> int:
    from avssl.data.datasets.image_folder import read_image_annotations
    from avssl.data.decoding.images import read_image
    from avssl.evaluation.saliency import saliency_report

    split = args.split or None
    annotations = read_image_annotations(args.data, split)
    folder = Path(args.data) / split if split else Path(args.data)
    samples = (
        (read_image(folder / rel), [obj["box"] for obj in ann["objects"]]) for rel, ann in annotations.items()
    )
    kwargs = {"layer": args.layer, "seed": args.seed} if args.method == "random_cnn" else {}
    report = saliency_report(samples, args.method, **kwargs)
    report.update(kwargs)
    write_json(args.out, report)
    print(json.dumps({k: report[k] for k in ("saliency", "centre", "num_images")}))
    return 0


def _add_saliency(evals: argparse._SubParsersAction) -> None:
    from avssl.transforms.saliency import SALIENCY_METHODS, STAGES

    saliency = add_command(
        evals, "saliency", "unsupervised saliency (random-init CNN, spectral residual) vs the centre prior"
    )
    saliency.add_argument(
        "--data",
        required=True,
        help="an image folder with annotations/<split>.json (`avssl synth --layout imagefolder`)",
    )
    saliency.add_argument(
        "--split", default="val", help="split folder (default: val); '' for none (all.json)"
    )
    saliency.add_argument("--method", choices=SALIENCY_METHODS, default="random_cnn")
    saliency.add_argument("--layer", choices=STAGES, default="layer1", help="random_cnn: the ResNet stage")
    saliency.add_argument("--seed", type=int, default=0, help="random_cnn: the seed of the network's draw")
    saliency.add_argument("--out", required=True)
    saliency.set_defaults(func=_cmd_eval_saliency)


PROTOCOLS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "retrieval": _add_retrieval,
    "probe": _add_probe,
    "localization": benchmarks.add_localization,
    "segmentation": benchmarks.add_segmentation,
    "action": _add_action,
    "video-retrieval": _add_video_retrieval,
    "frames": _add_frames,
    "tracking": _add_tracking,
    "saliency": _add_saliency,
    "dense-probe": voc_eval.add_dense_probe,
    "voc-classification": voc_eval.add_voc_classification,
    "change-detection": change_eval.add_change_detection,
    "detection": coco_eval.add_detection,
    "segments": segment_eval.add_segments,
}


def add_eval(sub: argparse._SubParsersAction) -> None:
    evaluate = add_command(sub, "eval", "evaluate with the field's protocols")
    evals = evaluate.add_subparsers(dest="protocol", required=True)
    for add in PROTOCOLS.values():
        add(evals)


COMMANDS = {"embed": add_embed, "eval": add_eval}
