"""Image data of the image multi-SSL recipe: an ImageFolder tree, two augmented views per image."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from avssl.data.datasets.image_folder import MASKS_DIR, ImageViewsDataset, image_folder_items
from avssl.data.decoding import MediaError
from avssl.data.decoding.images import read_image
from avssl.data.loader import ViewConfig, sized_transforms, view_transforms
from avssl.transforms.saliency import SALIENCY_METHODS, foreground_mask, grid_mask, saliency


def _moco_v2_augmentation() -> list[dict]:
    """MoCo v2's views (Chen, Fan, Girshick & He, "Improved Baselines with Momentum Contrastive Learning",
    2020, and its released augmentation): crop 0.2-1, colour jitter 0.4/0.4/0.4/0.1 (p 0.8), grayscale
    (p 0.2), Gaussian blur with sigma ~ U[0.1, 2.0] (p 0.5), flip."""
    return [
        {"name": "random_resized_crop", "scale": [0.2, 1.0]},
        {"name": "color_jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1, "p": 0.8},
        {"name": "random_grayscale", "p": 0.2},
        {"name": "gaussian_blur", "sigma": [0.1, 2.0], "p": 0.5},
        {"name": "random_horizontal_flip", "p": 0.5},
        {"name": "normalize"},
    ]


def _eval_transforms() -> list[dict]:
    return [{"name": "resize"}, {"name": "center_crop"}, {"name": "normalize"}]


@dataclass
class ImageDataConfig:
    """ImageFolder root, splits, image size (transforms without a size get it) and loader settings;
    `synthetic`: images per split written when `root` is empty. `views`: one `ViewConfig` per training view
    (own transforms and size; timing does not apply to images); empty: two views of `transforms`. The task
    reads views 0 (query) and 1 (key)."""

    root: str = ""
    layout: str = "image_folder"  # what `avssl eval probe --run RUN` reads the evaluation images with
    split: str | None = "train"
    size: int = 64
    num_workers: int = 1
    max_bad_fraction: float = 0.01
    synthetic: dict[str, int] = field(default_factory=lambda: {"train": 192, "val": 64})
    transforms: list[dict] = field(default_factory=_moco_v2_augmentation)
    eval_transforms: list[dict] = field(default_factory=_eval_transforms)
    views: list[ViewConfig] = field(default_factory=list)
    # foreground masks for the views (`MASK_SOURCES`): "", annotations, saliency, saliency_grid
    masks: str = ""
    saliency_method: str = "random_cnn"  # saliency masks: random_cnn (TOBIAS) | spectral_residual
    saliency_layer: str = "layer1"  # random_cnn: the random-init ResNet-18's stage (seed 0)

    def __post_init__(self):
        if self.masks not in MASK_SOURCES:
            raise ValueError(f"data.masks must be one of {MASK_SOURCES}, got {self.masks!r}")
        if self.saliency_method not in SALIENCY_METHODS:
            raise ValueError(
                f"data.saliency_method must be one of {SALIENCY_METHODS}, got {self.saliency_method!r}"
            )


MASK_SOURCES = ("", "annotations", "saliency", "saliency_grid")


class ImageMasks:
    """Foreground mask (H, W) uint8 of an image of `root[/split]`: the annotated instance masks
    (`root/masks/<split>/<class>/<image>.png`, any object), or unsupervised saliency computed from the
    image itself — above the map's mean (`saliency`), or TOBIAS's 4 × 4 cells, 30 % of them (`saliency_grid`)
    (`avssl.transforms.saliency`: `method` random_cnn, the random-init ResNet-18 at `layer`, seed 0; or
    spectral_residual). Picklable for workers."""

    def __init__(
        self,
        source: str,
        root: str,
        split: str | None,
        layer: str = "layer1",
        cache: int = 8192,
        method: str = "random_cnn",
    ):
        self.source, self.layer, self.method = source, layer, method
        self.folder = Path(root) / split if split else Path(root)
        self.masks = Path(root) / MASKS_DIR / split if split else Path(root) / MASKS_DIR
        self.cache_size, self._cache = cache, {}  # saliency masks by path (per worker; first `cache` images)

    def __call__(self, path: str, pixels: torch.Tensor) -> torch.Tensor:
        if self.source == "annotations":
            mask_path = self.masks / Path(path).relative_to(self.folder)
            mask = read_image(mask_path)[..., 0]
            if mask.shape != pixels.shape[:2]:
                raise MediaError(
                    mask_path, f"mask of size {tuple(mask.shape)} for an image of {tuple(pixels.shape[:2])}"
                )
            return (mask > 0).to(torch.uint8)
        key = (str(path), tuple(pixels.shape))
        if key not in self._cache:
            mask = self._saliency(pixels)
            if len(self._cache) >= self.cache_size:
                return mask
            self._cache[key] = mask
        return self._cache[key].clone()

    def _saliency(self, pixels: torch.Tensor) -> torch.Tensor:
        kwargs = {"layer": self.layer} if self.method == "random_cnn" else {}
        maps = saliency(pixels.permute(2, 0, 1), self.method, **kwargs)
        if self.source == "saliency_grid":
            return grid_mask(maps, cells=4, ratio=0.3)[0].to(torch.uint8)
        return foreground_mask(maps)[0].to(torch.uint8)


def image_dataset(cfg: ImageDataConfig, split: str | None, train: bool, seed: int = 0) -> ImageViewsDataset:
    """The training views per image (`cfg.views`, or two of `cfg.transforms`) or one evaluation view."""
    if not train:
        transforms = [sized_transforms(cfg.eval_transforms, cfg.size)]
    elif cfg.views:
        transforms = view_transforms(cfg.views, cfg.transforms, cfg.size)
    else:
        transforms = [sized_transforms(cfg.transforms, cfg.size)] * 2
    items, _ = image_folder_items(cfg.root, split)
    masks = None
    if cfg.masks:
        masks = ImageMasks(cfg.masks, cfg.root, split, cfg.saliency_layer, method=cfg.saliency_method)
    return ImageViewsDataset(items, transforms, seed=seed, skip_bad=train, mask_fn=masks)


# `recipes/image_ssl.py`'s `views=` presets: the background augmentation and where masks come from
VIEW_PRESETS = {
    "none": ("none", ""),
    "bg_rm": ("bg_rm", "saliency"),
    "bg_random": ("bg_random", "saliency"),
    "bg_swaps": ("bg_swaps", "saliency"),
    "tobias": ("bg_random", "saliency_grid"),
    "multicrop": ("none", ""),
    "multicrop_nn": ("none", ""),
    "insloc": ("none", ""),
    "insloc_robust": ("none", "saliency"),
}
# InsLoc's presets (`model.insloc`): plain InsLoc pastes crops of 20–100 % of the image; the robust views
# add every switch of the view-design study (ours at CPU scale: crops of 30–100 % centred on the saliency
# mask, the two crops' IoU in [0.3, 0.8], Poisson blending, texture flattening and elastic deformation on
# half of the views each)
INSLOC_PRESETS = {
    "insloc": {"enabled": True},
    "insloc_robust": {
        "enabled": True,
        "crop_scale": [0.3, 1.0],
        "min_iou": 0.3,
        "max_iou": 0.8,
        "saliency_prior": True,
        "blend": "poisson",
        "texture_flatten": 0.5,
        "elastic": 0.5,
    },
}
LOCAL_CROPS, LOCAL_SCALE = 4, 0.6  # Revisiting / SwAV: 2 × 160 px global + 4 × 96 px local crops


def multicrop_views(data: ImageDataConfig) -> list:
    """2 global views of the data's transforms and size, then `LOCAL_CROPS` local ones at `LOCAL_SCALE` of
    the size whose random-resized crop covers 5–30 % of the image (SwAV's multi-crop: 0.14–1 global,
    0.05–0.14 local at ImageNet scale; ours keeps the global crop as configured)."""
    local = [
        {**t, "scale": [0.05, 0.3]} if t.get("name") == "random_resized_crop" else t for t in data.transforms
    ]
    size = max(8, round(data.size * LOCAL_SCALE))
    return [
        ViewConfig(),
        ViewConfig(),
        *[ViewConfig(transforms=local, size=size) for _ in range(LOCAL_CROPS)],
    ]


def instance_transforms(transforms: list[dict]) -> list[dict]:
    """InsLoc's source views: the data's photometric augmentation on the whole image (a random-resized
    crop becomes resize + centre crop, the flip goes: InsLoc crops, flips and places the instances)."""
    out: list[dict] = []
    for t in transforms:
        if t.get("name") == "random_resized_crop":
            out += [{"name": "resize"}, {"name": "center_crop"}]
        elif t.get("name") != "random_horizontal_flip":
            out.append(t)
    return out


def image_ssl_presets(cfg) -> None:
    """`method=moco|byol|swav` sets `model.method`; `views=NAME` (`VIEW_PRESETS`) sets
    `model.background.mode` and, when `data.masks` is empty, the mask source (unsupervised saliency; TOBIAS:
    its 4 × 4 grid cells); `multicrop` sets `data.views` to 2 global + 4 local crops, `multicrop_nn` also
    `model.nn_positives=20` (MoCo, Revisiting); `insloc` / `insloc_robust` set `model.insloc`
    (`INSLOC_PRESETS`) and make the data's views photometric only (`instance_transforms`). Empty keys leave
    the config as written."""
    from avssl.config import ConfigError
    from avssl.tasks.image_ssl import IMAGE_SSL_METHODS

    if cfg.method:
        if cfg.method not in IMAGE_SSL_METHODS:
            raise ConfigError(f"method must be one of {', '.join(IMAGE_SSL_METHODS)}, got {cfg.method!r}")
        cfg.model.method = cfg.method
    if cfg.views:
        if cfg.views not in VIEW_PRESETS:
            raise ConfigError(f"views must be one of {', '.join(VIEW_PRESETS)}, got {cfg.views!r}")
        mode, masks = VIEW_PRESETS[cfg.views]
        cfg.model.background.mode = mode
        if masks and not cfg.data.masks:
            cfg.data.masks = masks
        if cfg.views.startswith("multicrop") and not cfg.data.views:
            cfg.data.views = multicrop_views(cfg.data)
        if cfg.views == "multicrop_nn":
            cfg.model.nn_positives = cfg.model.nn_positives or 20
        if cfg.views in INSLOC_PRESETS:
            for key, value in INSLOC_PRESETS[cfg.views].items():
                setattr(cfg.model.insloc, key, value)
            cfg.data.transforms = instance_transforms(cfg.data.transforms)
