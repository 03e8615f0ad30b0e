"""Evaluators by name: each is `(task, cfg, run_dir) -> metrics dict` (None: nothing to evaluate with this
config, e.g. no held-out split), built from the pure metrics and prediction helpers of `avssl.evaluation`.
The runner writes what they return (see `avssl.runner.run`); `segmentation` also saves RUN/predictions.npz.

`cfg` is the whole recipe config; `task` the trained model (in the runner's hands: the in-memory model, or
a finished stage's exported model). Each evaluator puts the task in eval mode and back where it predicts,
and predicts on the device the task lives on (after `accelerator.prepare`: the accelerator).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avssl.device import module_device
from avssl.runner.cyborgs_data import segment_quality

Evaluator = Callable[[nn.Module, Any, Path], "dict | None"]


def localization(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """cIoU / AUC (percent) on the Flickr-SoundNet or VGG-SS layout at `eval.root` (reference protocol)."""
    from avssl.evaluation.localization import evaluate_localization
    from avssl.evaluation.localization_predict import benchmark_dataset, predict_localization

    if not cfg.eval.root:
        return None
    dataset = benchmark_dataset(cfg.eval.benchmark, cfg.eval.root, dict(vars(cfg.data)))
    ogl_alpha = getattr(cfg.eval, "ogl_alpha", None)
    predictions = predict_localization(
        task,
        dataset,
        num_workers=cfg.data.num_workers,
        ogl_alpha=ogl_alpha,
        device=module_device(task),
    )
    return evaluate_localization(cfg.eval.benchmark, cfg.eval.root, predictions, cfg.eval.rule)


def segmentation(task: nn.Module, cfg: Any, run_dir: Path) -> dict:
    """mIoU / F on the AVSBench test split of `eval.root` (empty: data.root); saves RUN/predictions.npz."""
    from avssl.evaluation.segmentation import evaluate_segmentation, save_predictions
    from avssl.evaluation.segmentation_predict import avsbench_test_dataset, predict_segmentation
    from avssl.runner.specs import segmentation_benchmark

    benchmark, root = segmentation_benchmark(cfg), cfg.eval.root or cfg.data.root
    dataset = avsbench_test_dataset(benchmark, root, cfg.data)
    predictions = predict_segmentation(
        task, dataset, cfg.eval.batch_size, cfg.data.num_workers, module_device(task)
    )
    save_predictions(run_dir / "predictions.npz", predictions)
    return evaluate_segmentation(benchmark, root, predictions, cfg.eval.f_mode, cfg.eval.batch_size)


def _held_out(cfg: Any, split: str | None):
    """Centre windows of `split` of the eval root (empty: data.root), labels from synth_gt.json if any."""
    from avssl.evaluation.multissl import eval_dataset

    data = copy.copy(cfg.data)
    data.root = getattr(cfg.eval, "root", "") or cfg.data.root
    return eval_dataset(data, split)


def retrieval(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """Audio↔visual retrieval (R@1/5/10, median / mean rank, both directions) on `eval.split`."""
    from avssl.evaluation.embed import embed
    from avssl.evaluation.retrieval import retrieval_metrics

    if cfg.eval.split is None:
        return None
    device = module_device(task)
    emb = embed(task, _held_out(cfg, cfg.eval.split), 32, 0, device, modalities=["video", "audio"])
    return retrieval_metrics(torch.from_numpy(emb["video"]), torch.from_numpy(emb["audio"]))


def probe(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"probe": kNN / linear probes and class retrieval of pooled visual and audio features} (training split
    → `eval.split`); None without labels, without a split, or with `eval.probe: false` (multi-SSL)."""
    from avssl.evaluation.multissl import feature_probe

    if cfg.eval.split is None or not getattr(cfg.eval, "probe", True):
        return None
    test = _held_out(cfg, cfg.eval.split)
    if not all(item.label is not None for item in test.items):
        return None
    train = _held_out(cfg, cfg.data.split)
    num_classes = 1 + max(i.label for i in train.items + test.items)
    return {"probe": feature_probe(task, train, test, num_classes)}


def _pretexts_so_far(run_dir: Path, cfg: Any, task: nn.Module) -> list[str]:
    """Pretexts of the stages up to and including the one in `run_dir` (first appearance order); a run
    without stages: the task's own."""
    from avssl.stages.incremental import stage_dirs

    if not getattr(cfg, "stages", None):
        return list(task.active_pretexts)
    dirs = stage_dirs(cfg.output_dir, cfg.stages)
    upto = dirs.index(run_dir) + 1 if run_dir in dirs else len(dirs)
    return list(dict.fromkeys(n for s in cfg.stages[:upto] for n in s.pretexts))


def pretext(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"pretexts", "pretext": held-out accuracy and chance (percent) of every pretext trained so far}."""
    from avssl.evaluation.multissl import pretext_accuracy

    if cfg.eval.split is None:
        return None
    names = _pretexts_so_far(run_dir, cfg, task)
    test = _held_out(cfg, cfg.eval.split)
    return {
        "pretexts": getattr(task, "active_pretexts", None),
        "pretext": pretext_accuracy(task, test, names, cfg.eval.repeats, cfg.eval.seed),
    }


def _image_features(task: nn.Module, data: Any, split: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    from avssl.evaluation.embed import embed
    from avssl.runner.image_data import image_dataset

    device = module_device(task)
    emb = embed(task, image_dataset(data, split, train=False), 64, 0, device, modalities=["video"])
    return torch.from_numpy(emb["video"]), torch.from_numpy(emb["labels"])


def image_probe(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"pretexts", "probe": kNN and linear-probe top-1 of the frozen backbone's pooled features (training
    split → `eval.split`)}."""
    from avssl.evaluation.probe import probe_metrics

    if cfg.eval.split is None:
        return None
    train_x, train_y = _image_features(task, cfg.data, cfg.data.split)
    test_x, test_y = _image_features(task, cfg.data, cfg.eval.split)
    return {
        "pretexts": getattr(task, "active_pretexts", None),
        "probe": probe_metrics(train_x, train_y, test_x, test_y, int(train_y.max()) + 1),
    }


@torch.no_grad()
def view_retrieval(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"views": R@k of held-out view retrieval}: does one augmented view of an image (training
    augmentation, seed `eval.view_seed`) find the other view of the same image? The pretext on new images."""
    from avssl.data.loader import build_loader
    from avssl.evaluation.retrieval import rank_metrics, retrieval_ranks
    from avssl.runner.image_data import image_dataset

    if cfg.eval.split is None:
        return None
    pairs: tuple[list, list] = ([], [])
    views = image_dataset(cfg.data, cfg.eval.split, train=True, seed=cfg.eval.view_seed)
    device = module_device(task)
    for batch in build_loader(views, 64, 0):
        for k in (0, 1):
            pairs[k].append(task.embed({"video": batch["views"][k]["video"].to(device)}, "video").cpu())
    return {"views": rank_metrics(retrieval_ranks(torch.cat(pairs[0]), torch.cat(pairs[1])))}


def action(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"action": {protocol: multi-clip top-1 / top-5 per video of a probe fit on the training split's clips,
    with "background_swapped" and "drop" when the data has a swapped copy}, "video_retrieval": R@1…50 of
    `eval.split`'s clips querying the training clips} (`avssl.evaluation.action`)."""
    from avssl.evaluation.action import (
        SWAPPED_DIR,
        clip_features,
        probe_report,
        swapped_config,
        video_retrieval_metrics,
    )

    if cfg.eval.split is None:
        return None
    data = copy.copy(cfg.data)
    data.root = cfg.eval.root or cfg.data.root
    clips = cfg.eval.clips
    train = clip_features(task, data, cfg.data.split, clips)
    test = clip_features(task, data, cfg.eval.split, clips)
    swapped = None
    if cfg.eval.background_swapped and (Path(data.root) / SWAPPED_DIR).is_dir():
        swapped = clip_features(task, swapped_config(data), cfg.eval.split, clips)
    num_classes = 1 + int(max(train.labels.max(), test.labels.max()))
    return {
        "action": {p: probe_report(p, train, test, swapped, num_classes) for p in cfg.eval.protocols},
        "video_retrieval": video_retrieval_metrics(
            test.features, test.clip_labels, train.features, train.clip_labels
        ),
    }


def background_invariance(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"background_invariance": R@k / MedR / MeanR and the similarity gap of each background-swapped test
    video retrieving its original among the test videos} (`avssl.evaluation.action.background_invariance`);
    None without a split or a swapped copy."""
    from avssl.evaluation.action import SWAPPED_DIR, clip_features, swapped_config
    from avssl.evaluation.action import background_invariance as invariance

    data = copy.copy(cfg.data)
    data.root = cfg.eval.root or cfg.data.root
    if cfg.eval.split is None or not (Path(data.root) / SWAPPED_DIR).is_dir():
        return None
    test = clip_features(task, data, cfg.eval.split, cfg.eval.clips)
    swapped = clip_features(task, swapped_config(data), cfg.eval.split, cfg.eval.clips)
    return {"background_invariance": invariance(test, swapped)}


@torch.no_grad()
def clip_pairs(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"clip_pairs": R@k of held-out clip-pair retrieval}: the training pair sampling (two clips per video
    at a drawn distance, each with its own augmentation; seed `eval.view_seed`) on the videos of
    `eval.split`; each video's first clip queries the second clips of all of them — the pretext task on
    videos never trained on."""
    from avssl.data.loader import build_dataset, build_loader
    from avssl.evaluation.retrieval import rank_metrics, retrieval_ranks

    if cfg.eval.split is None or len(cfg.data.views) < 2:
        return None
    data = copy.copy(cfg.data)
    data.root, data.split = cfg.eval.root or cfg.data.root, cfg.eval.split
    pairs = build_dataset(data, train=True, seed=cfg.eval.view_seed)
    device = module_device(task)
    views: tuple[list, list] = ([], [])
    for batch in build_loader(pairs, 16, 0):
        for k in (0, 1):
            views[k].append(task.embed({"video": batch["views"][k]["video"].to(device)}, "video").cpu())
    return {"clip_pairs": rank_metrics(retrieval_ranks(torch.cat(views[0]), torch.cat(views[1])))}


def attention(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"attention": {"iou", "iou_swapped", "num_videos"}}: IoU of the clip encoder's top-20 % activation
    region with the true masks of the moving object on the test clips of a synthetic action set (and its
    background-swapped copy) (`avssl.evaluation.attention`); None without a clip encoder or masks."""
    from avssl.evaluation.action import SWAPPED_DIR
    from avssl.evaluation.attention import attention_iou

    root = Path(cfg.eval.root or cfg.data.root)
    encoder = getattr(task, "encoder", None)
    if (
        encoder is None
        or getattr(encoder, "input_kind", "clip") != "clip"
        or not (root / "synth_gt.json").is_file()
    ):
        return None
    was_training = task.training
    task.eval()
    try:
        report = attention_iou(encoder, root, cfg.data.fps, cfg.data.duration_s)
        if (root / SWAPPED_DIR / "synth_gt.json").is_file():
            report["iou_swapped"] = attention_iou(
                encoder, root / SWAPPED_DIR, cfg.data.fps, cfg.data.duration_s
            )["iou"]
    finally:
        task.train(was_training)
    return {"attention": report}


@torch.no_grad()
def _variant_features(
    task: nn.Module,
    cfg: Any,
    variants: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], Iterator[tuple[str, torch.Tensor]]],
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor, int, str]:
    """The images of `eval.split` with their foreground masks and labels, `variants(images, masks, labels,
    num_classes)`'s (name, chunk) stream embedded by the frozen task → ({variant: features}, test labels,
    training features, training labels, num_classes, mask source). Masks: `eval.masks`, else the tree's
    annotated masks when it has them, else random-init saliency — independent of the training's
    `data.masks`, so every model is scored on the same variants."""
    from avssl.data.loader import build_loader
    from avssl.runner.image_data import image_dataset

    data = copy.copy(cfg.data)
    data.masks = cfg.eval.masks
    if not data.masks:
        annotated = (Path(data.root) / "masks" / cfg.eval.split).is_dir()
        data.masks = "annotations" if annotated else "saliency"
    images, masks, labels = [], [], []
    for batch in build_loader(image_dataset(data, cfg.eval.split, train=False), 64, 0):
        images.append(batch["video"][:, :, 0])
        masks.append(batch["views"][0]["mask"].reshape(-1, *batch["video"].shape[-2:]))
        labels.append(batch["label"])
    images, masks, labels = torch.cat(images), torch.cat(masks), torch.cat(labels)
    train_x, train_y = _image_features(task, cfg.data, cfg.data.split)
    num_classes = int(max(train_y.max(), labels.max())) + 1
    device = module_device(task)
    was_training = task.training
    task.eval()
    parts: dict[str, list[torch.Tensor]] = {}
    try:
        for name, chunk in variants(images, masks, labels, num_classes):
            parts.setdefault(name, []).append(
                task.embed({"video": chunk[:, :, None].to(device)}, "video").cpu()
            )
    finally:
        task.train(was_training)
    features = {name: torch.cat(p) for name, p in parts.items()}
    return features, labels, train_x, train_y, num_classes, data.masks


def background_robustness(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"backgrounds": the background-robustness suite (`avssl.evaluation.background`): linear / kNN top-1
    on original, only_fg, mixed_same, mixed_rand and mixed_next variants of `eval.split`, and the BG-gap}.
    Foreground masks: `eval.masks`, else the tree's annotated masks when it has them, else random-init
    saliency — independent of the training's `data.masks`, so every model is scored on the same variants."""
    from avssl.evaluation.background import iter_variants, robustness_scores

    if cfg.eval.split is None:
        return None
    seed = cfg.eval.view_seed
    features, labels, train_x, train_y, num_classes, source = _variant_features(
        task, cfg, lambda x, m, y, c: iter_variants(x, m, y, c, seed)
    )
    report = robustness_scores(train_x, train_y, features, labels, num_classes)
    report["masks"] = source
    return {"backgrounds": report}


def shift_robustness(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"shifts": the appearance- and context-shift suite (`avssl.evaluation.shift`): linear / kNN top-1 on
    original, colour, texture, fog, snow, rain (severity `eval.shift_severity`), moved and out_of_context
    variants of `eval.split`, the drop of each group per probe, "masks", "severity"}; draws seeded by
    `eval.view_seed`. Foreground masks as `background_robustness` chooses them."""
    from avssl.evaluation.shift import iter_shift_variants, shift_scores

    if cfg.eval.split is None:
        return None
    seed, severity = cfg.eval.view_seed, cfg.eval.shift_severity
    features, labels, train_x, train_y, num_classes, source = _variant_features(
        task, cfg, lambda x, m, y, c: iter_shift_variants(x, m, y, seed, severity=severity)
    )
    report = shift_scores(train_x, train_y, features, labels, num_classes)
    report["masks"], report["severity"] = source, severity
    return {"shifts": report}


def _voc_tree(cfg: Any) -> Path | None:
    """The VOC tree at `eval.root` (when the eval section has one) or else `data.root`; None: neither is."""
    from avssl.data.datasets.voc import is_voc_root, voc_root

    for root in (getattr(cfg.eval, "root", ""), cfg.data.root):
        if root and is_voc_root(root):
            return voc_root(root)
    return None


def _frozen(task: nn.Module, cfg: Any, report: Callable[..., dict], fn: Callable, root: Path) -> dict:
    """`report(fn, root, data.split or "train", eval.split, data.size, device)` with the task in eval mode."""
    was_training = task.training
    task.eval()
    try:
        return report(fn, root, cfg.data.split or "train", cfg.eval.split, cfg.data.size, module_device(task))
    finally:
        task.train(was_training)


def dense_probe(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"dense_probe": mIoU / pixel accuracy of a linear 1 × 1 head on the frozen backbone's feature maps,
    trained on the VOC tree's Segmentation training split and scored on `eval.split`
    (`avssl.evaluation.dense`)}; None without a VOC tree at `eval.root` / `data.root`, a split, or a task
    `backbone` giving feature maps."""
    from avssl.evaluation.dense import voc_dense_report

    root, backbone = _voc_tree(cfg), getattr(task, "backbone", None)
    if root is None or cfg.eval.split is None or backbone is None:
        return None
    return {"dense_probe": _frozen(task, cfg, voc_dense_report, backbone, root)}


def voc_classification(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"voc_classification": VOC07 11-point mAP of one-vs-rest linear classifiers on the frozen pooled
    features (`task.embed(…, "video")`), Main training split → `eval.split` (`avssl.evaluation.voc_cls`)};
    None without a VOC tree at `eval.root` / `data.root`, a split, or video embeddings."""
    from avssl.evaluation.voc_cls import voc_classification_report

    root = _voc_tree(cfg)
    if root is None or cfg.eval.split is None or "video" not in getattr(task, "embeds", ()):
        return None

    def pooled(images: torch.Tensor) -> torch.Tensor:
        return task.embed({"video": images[:, :, None]}, "video")

    return {"voc_classification": _frozen(task, cfg, voc_classification_report, pooled, root)}


@torch.no_grad()
def scene_object_retrieval(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"scene_objects": {"cosine": {mAP, R@1, R@5, …}, "hyperbolic": … (tasks embedding into a Poincaré
    ball, HCL)}}: each scene of `eval.split` queries every annotated object crop of the split, relevant =
    its own objects (`avssl.evaluation.scene_objects`); cosine of `embed(·, "video")`, −d_c of `embed_ball`."""
    from avssl.data.loader import build_loader
    from avssl.evaluation.scene_objects import cosine_scores, hyperbolic_scores, scene_object_metrics
    from avssl.runner.hcl_data import scene_object_dataset
    from avssl.tasks.base import BallEmbedder

    if cfg.eval.split is None:
        return None
    ball = isinstance(task, BallEmbedder)
    device, was_training = module_device(task), task.training
    task.eval()
    feats: dict[str, list] = {"scene": [], "object": [], "scene_ball": [], "object_ball": [], "owner": []}
    seen = 0
    try:
        for batch in build_loader(scene_object_dataset(cfg.data, cfg.eval.split), 32, 0):
            valid = batch["object_valid"]
            crops = batch["objects"][valid][:, 0].to(device)  # (M, 3, 1, s, s)
            scenes = batch["video"].to(device)
            feats["scene"].append(task.embed({"video": scenes}, "video").cpu())
            feats["object"].append(task.embed({"video": crops}, "video").cpu())
            if ball:
                feats["scene_ball"].append(task.embed_ball({"video": scenes}).cpu())
                feats["object_ball"].append(task.embed_ball({"video": crops}).cpu())
            owner = torch.arange(len(valid))[:, None].expand_as(valid)[valid] + seen
            feats["owner"].append(owner)
            seen += len(valid)
    finally:
        task.train(was_training)
    cat = {key: torch.cat(v) for key, v in feats.items() if v}
    out = {"cosine": scene_object_metrics(cosine_scores(cat["scene"], cat["object"]), cat["owner"])}
    if ball:
        scores = hyperbolic_scores(cat["scene_ball"], cat["object_ball"], float(task.curvature))
        out["hyperbolic"] = scene_object_metrics(scores, cat["owner"])
    return {"scene_objects": out}


def change_detection(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"change_detection": precision / recall / F1 / IoU / OA of the change class after fine-tuning a Siamese
    copy of the task's backbone with a light decoder on the training split of a LEVIR-CD / WHU-CD layout at
    `eval.root` / `data.root`, scored on `eval.split`, with the trivial baselines
    (`avssl.evaluation.change_finetune`; `eval.change_steps` steps, default 200; the backbone's lr scaled by
    `eval.change_backbone_lr_scale`, 0 freezes it)}; None without such a
    layout, a split, or a task `backbone`. The task itself is not changed."""
    from avssl.data.datasets.change import is_change_root
    from avssl.evaluation.change_finetune import ChangeFinetuneConfig, change_detection_report

    roots = [r for r in (getattr(cfg.eval, "root", ""), cfg.data.root) if r and is_change_root(r)]
    backbone = getattr(task, "backbone", None)
    if not roots or cfg.eval.split is None or backbone is None:
        return None
    finetune = ChangeFinetuneConfig(
        steps=int(getattr(cfg.eval, "change_steps", 200)),
        backbone_lr_scale=float(getattr(cfg.eval, "change_backbone_lr_scale", 1.0)),
    )
    report = change_detection_report(
        backbone, roots[0], "train", cfg.eval.split, finetune, module_device(task)
    )
    return {"change_detection": report}


def detection(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"detection": COCO AP / AP50 / AP75 (pycocotools) of Faster R-CNN fine-tuned from a copy of the task's
    `backbone` (frozen with `eval.detection_frozen`) for `eval.detection_steps` steps on train2017 of the COCO tree at `eval.root` / `data.root`
    and scored on val2017 (`avssl.evaluation.detection`)}; None without a COCO tree or a `backbone`. Not in
    any recipe's defaults (it trains a detector): name it in `eval.evaluators`."""
    from avssl.data.datasets.coco import is_coco_root
    from avssl.evaluation.detection import DetectionConfig, detection_report

    roots = [r for r in (getattr(cfg.eval, "root", ""), cfg.data.root) if r and is_coco_root(r)]
    backbone = getattr(task, "backbone", None)
    if not roots or backbone is None or not hasattr(backbone, "out_dim"):
        return None
    steps = int(getattr(cfg.eval, "detection_steps", DetectionConfig.steps))
    frozen = bool(getattr(cfg.eval, "detection_frozen", False))
    cfg_det = DetectionConfig(steps=steps, size=int(cfg.data.size), frozen_backbone=frozen)
    return {"detection": detection_report(backbone, roots[0], cfg_det, "run", module_device(task))}


EVALUATORS: dict[str, Evaluator] = {
    "localization": localization,
    "segmentation": segmentation,
    "retrieval": retrieval,
    "probe": probe,
    "pretext": pretext,
    "image_probe": image_probe,
    "view_retrieval": view_retrieval,
    "action": action,
    "clip_pairs": clip_pairs,
    "background_invariance": background_invariance,
    "attention": attention,
    "background_robustness": background_robustness,
    "shift_robustness": shift_robustness,
    "dense_probe": dense_probe,
    "voc_classification": voc_classification,
    "scene_object_retrieval": scene_object_retrieval,
    "change_detection": change_detection,
    "detection": detection,
    "segment_quality": segment_quality,
}
