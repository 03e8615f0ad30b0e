"""Scenes and their object crops from an ImageFolder tree: HCL's training and evaluation samples.

Ge et al., "Hyperbolic Contrastive Learning for Visual Representations beyond Objects", CVPR 2023, learn
from scene images and crops of the objects in them. Per image (`root/<split>/<class>/<image>`):

    "video"         (3, 1, H, W)         the scene through `scene_transform` (a one-frame clip)
    "objects"       (K, V, 3, 1, s, s)   V views of each of up to K object crops: the box cut from the
                                         image (integer pixels around it, at least 2 px), resized to s × s,
                                         then through `object_transforms[v]`; slots past the image's
                                         objects are zeros
    "object_valid"  (K,) bool            which slots hold an object (slot 0 always: an image without
                                         boxes gets the whole image as its object)
    "object_boxes"  (K, 4) float         the boxes (xyxy pixels of the original image), zeros for padding
    "label", "index"

Boxes come from `boxes_fn(path, pixels) → [[x0, y0, x1, y1], …]` (annotated boxes or unsupervised
saliency: `avssl.runner.hcl_data.ObjectBoxes`); the first K are kept. Augmentations depend on (seed, epoch,
index, object, view) only; in training mode (`skip_bad`) an unreadable image is replaced by a stand-in.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torchvision.transforms.functional as TF

from avssl.data.datasets.base import DATA_ERRORS, BadItem
from avssl.data.datasets.image_folder import EpochItems
from avssl.data.decoding.images import read_image

BoxesFn = Callable[[str, torch.Tensor], list[list[float]]]


def crop_box(pixels: torch.Tensor, box: list[float], size: int) -> torch.Tensor:
    """(H, W, 3) uint8 → (1, 3, size, size) uint8: the integer pixels covering `box` (xyxy, at least
    2 × 2, inside the image), resized (antialiased bilinear)."""
    h, w = pixels.shape[:2]
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(w, max(x0 + 2, math.ceil(box[2]))), min(h, max(y0 + 2, math.ceil(box[3])))
    x0, y0 = min(x0, x1 - 2), min(y0, y1 - 2)
    crop = pixels[y0:y1, x0:x1].permute(2, 0, 1)[None]
    return TF.resize(crop, [size, size], antialias=True)


class ImageObjectsDataset(EpochItems):
    """Images of `items` [(path, label)] → scene + object-crop samples (module docstring)."""

    accepts_epoch_keys = True

    def __init__(
        self,
        items: list[tuple[str, int]],
        scene_transform: Callable,
        object_transforms: list[Callable],
        boxes_fn: BoxesFn,
        object_size: int,
        max_objects: int,
        seed: int = 0,
        skip_bad: bool = False,
    ):
        if not object_transforms or max_objects < 1 or object_size < 2:
            raise ValueError("an objects dataset needs object transforms, max_objects >= 1, object_size >= 2")
        self.items, self.scene_transform = items, scene_transform
        self.object_transforms, self.boxes_fn = list(object_transforms), boxes_fn
        self.object_size, self.max_objects = object_size, max_objects
        self.seed, self.skip_bad, self.epoch = seed, skip_bad, 0

    def _generator(self, index: int, *parts: int) -> torch.Generator:
        return torch.Generator().manual_seed(hash((self.seed, self.epoch, index, *parts)) & 0x7FFF_FFFF_FFFF)

    def _load(self, index: int) -> dict | BadItem:
        path, label = self.items[index]
        try:
            pixels = read_image(path)  # (H, W, 3) uint8
            boxes = list(self.boxes_fn(path, pixels))[: self.max_objects]
        except DATA_ERRORS as err:
            if not self.skip_bad:
                raise
            return BadItem(index=index, path=str(path), reason=str(err))
        h, w = pixels.shape[:2]
        boxes = boxes or [[0.0, 0.0, float(w), float(h)]]
        scene = self.scene_transform({"video": pixels.permute(2, 0, 1)[None]}, self._generator(index, -1))
        objects = []
        for o, box in enumerate(boxes):
            crop = crop_box(pixels, box, self.object_size)
            views = [
                t({"video": crop}, self._generator(index, o, v))["video"]
                for v, t in enumerate(self.object_transforms)
            ]
            objects.append(torch.stack(views))  # (V, 3, 1, s, s)
        k = self.max_objects
        stacked = torch.zeros(k, *objects[0].shape, dtype=objects[0].dtype)
        stacked[: len(objects)] = torch.stack(objects)
        valid = torch.zeros(k, dtype=torch.bool)
        valid[: len(objects)] = True
        box_tensor = torch.zeros(k, 4)
        box_tensor[: len(boxes)] = torch.tensor(boxes, dtype=torch.float32)
        return {
            "video": scene["video"],
            "objects": stacked,
            "object_valid": valid,
            "object_boxes": box_tensor,
            "label": label,
            "index": index,
        }
