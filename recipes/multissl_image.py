"""Image multi-SSL: MoCo v2 (global) + DenseCL (dense) on one backbone — single task, joint, or incremental
(stages, as in recipes/binaural_multissl.py) — then a linear probe / kNN on the frozen backbone.

    accelerate launch recipes/multissl_image.py --config recipes/configs/multissl_image_joint.yaml \
        data.root=/data/imagenet_subset output_dir=runs/image_joint

`data.root` is an ImageFolder tree (`root/<split>/<class>/*.jpg`); empty: a synthetic one (scene renderer,
4 classes) is written into OUTPUT/synthetic. Configs: multissl_image_joint.yaml (λ = 0.5 as DenseCL),
multissl_image_incremental.yaml (MoCo v2 stage, then DenseCL with feature distillation). After training the
frozen backbone's pooled features are probed on `eval.split` (top-1, percent): RUN/eval.json.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from avssl import distributed
from avssl.config import save_config
from avssl.data.datasets.image_folder import ImageViewsDataset, image_folder_items
from avssl.data.loader import ViewConfig, sized_transforms, view_transforms
from avssl.recipe import parse_recipe_args
from avssl.tasks import build_task
from avssl.tasks.image_multissl import ImageMultiSSLConfig
from avssl.train.config import OptimConfig, ScheduleConfig, TrainConfig
from avssl.train.incremental import StageConfig, run_multissl


def _moco_v2_augmentation() -> list[dict]:
    """MoCo v2's views (Chen et al. 2020): crop 0.2-1, colour jitter 0.4 (p 0.8), grayscale 0.2, blur, flip."""
    return [
        {"name": "random_resized_crop", "scale": [0.2, 1.0]},
        {"name": "color_jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1, "p": 0.8},
        {"name": "random_grayscale", "p": 0.2},
        {"name": "random_horizontal_flip", "p": 0.5},
        {"name": "normalize"},
    ]


@dataclass
class ImageDataConfig:
    """ImageFolder root, splits, image size (transforms without a size get it) and loader settings.
    `views`: one `ViewConfig` per training view (own transforms and size; timing does not apply to
    images); empty: two views of `transforms`. The task reads views 0 (query) and 1 (key)."""

    root: str = ""
    layout: str = "image_folder"  # what `avssl eval probe --run RUN` reads the evaluation images with
    split: str | None = "train"
    size: int = 64
    num_workers: int = 1
    max_bad_fraction: float = 0.01
    synthetic: dict[str, int] = field(default_factory=lambda: {"train": 192, "val": 64})
    transforms: list[dict] = field(default_factory=_moco_v2_augmentation)
    eval_transforms: list[dict] = field(default_factory=lambda: [{"name": "resize"}, {"name": "center_crop"}, {"name": "normalize"}])
    views: list[ViewConfig] = field(default_factory=list)


@dataclass
class ImageEvalConfig:
    """After training, on `split` (None = skip): linear probe / kNN of the frozen backbone's pooled features,
    and view retrieval — each image's first augmented view (training augmentation, seed `view_seed`)
    queries the second views of all images (R@k, pessimistic ties): the pretext task on held-out images."""

    split: str | None = "val"
    view_seed: int = 12345


@dataclass
class ImageMultiSSLRecipe:
    task: str = "image_multissl"
    output_dir: str = "runs/multissl_image"
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: ImageMultiSSLConfig = field(default_factory=ImageMultiSSLConfig)
    stages: list[StageConfig] = field(default_factory=list)
    eval: ImageEvalConfig = field(default_factory=ImageEvalConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


def image_dataset(cfg: ImageDataConfig, split: str | None, train: bool, seed: int = 0) -> ImageViewsDataset:
    """The training views per image (`cfg.views`, or two of `cfg.transforms`) or one evaluation view."""
    if not train:
        transforms = [sized_transforms(cfg.eval_transforms, cfg.size)]
    elif cfg.views:
        transforms = view_transforms(cfg.views, cfg.transforms, cfg.size)
    else:
        transforms = [sized_transforms(cfg.transforms, cfg.size)] * 2
    items, _ = image_folder_items(cfg.root, split)
    return ImageViewsDataset(items, transforms, seed=seed, skip_bad=train)


def evaluate_run(run_dir: Path, cfg: ImageMultiSSLRecipe) -> dict:
    """kNN and linear-probe top-1 of the frozen backbone's pooled features (train split → eval split) and
    held-out view retrieval (see ImageEvalConfig)."""
    import torch

    from avssl.data.loader import build_loader
    from avssl.evaluation.embed import embed
    from avssl.evaluation.probe import probe_metrics
    from avssl.evaluation.retrieval import rank_metrics, retrieval_ranks
    from avssl.inference.load import load_run

    task, _ = load_run(run_dir)

    def features(split: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        emb = embed(task, image_dataset(cfg.data, split, train=False), 64, 0, modalities=["video"])
        return torch.from_numpy(emb["video"]), torch.from_numpy(emb["labels"])

    @torch.no_grad()
    def view_pairs(split: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        pairs: tuple[list, list] = ([], [])
        for batch in build_loader(image_dataset(cfg.data, split, train=True, seed=cfg.eval.view_seed), 64, 0):
            for k in (0, 1):
                pairs[k].append(task.embed({"video": batch["views"][k]["video"]}, "video"))
        return torch.cat(pairs[0]), torch.cat(pairs[1])

    train_x, train_y = features(cfg.data.split)
    test_x, test_y = features(cfg.eval.split)
    out = {"pretexts": task.active_pretexts, "probe": probe_metrics(train_x, train_y, test_x, test_y, int(train_y.max()) + 1)}
    # the pretext on held-out images: does one augmented view find the other view of the same image?
    out["views"] = rank_metrics(retrieval_ranks(*view_pairs(cfg.eval.split)))
    (run_dir / "eval.json").write_text(json.dumps(out, indent=2))
    return out


def main(argv: Sequence[str] | None = None) -> dict:
    """Train (and probe); returns {"train": [loop results], "eval": {run_dir: metrics}}."""
    from accelerate.utils import set_seed

    cfg = parse_recipe_args(ImageMultiSSLRecipe, argv)
    output_dir = Path(cfg.output_dir)
    if not cfg.data.root:
        from avssl.data.synthetic.images import write_image_folder

        root = output_dir / "synthetic"
        if distributed.rank() == 0 and not (root / cfg.data.split).is_dir():
            write_image_folder(root, cfg.data.synthetic, size=cfg.data.size, seed=cfg.train.seed)
        distributed.barrier()
        cfg.data.root = str(root)
    set_seed(cfg.train.seed)
    if distributed.rank() == 0:
        save_config(cfg, output_dir / "config.yaml")
    dataset = image_dataset(cfg.data, cfg.data.split, train=True, seed=cfg.train.seed)
    queue = max(cfg.model.queue_size, cfg.model.dense_queue_size)
    if queue >= len(dataset) and distributed.rank() == 0:
        print(f"multissl_image: warning: a queue of {queue} keys for {len(dataset)} training images holds every "
              "image several times as a negative of itself; set model.queue_size / model.dense_queue_size below "
              "the number of images", file=sys.stderr)
    results, run_dirs = run_multissl(cfg, dataset, lambda model_cfg: build_task(cfg.task, model_cfg))
    evaluations = {}
    if cfg.eval.split is not None and distributed.rank() == 0:
        evaluations = {str(d): evaluate_run(d, cfg) for d in run_dirs}
    # no barrier after the evaluation: the other processes have nothing to wait for, and a long
    # evaluation on rank 0 must not run into the process group's timeout
    return {"train": results, "eval": evaluations}


if __name__ == "__main__":
    main(sys.argv[1:])
