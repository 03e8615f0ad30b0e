"""Pure appearance ops on a clip (T, C, H, W); parameters are passed in, the same for every frame.

uint8 clips stay uint8 (torchvision's integer arithmetic); float clips are assumed in [0, 1].
``normalize`` is the exit of the pipeline: it returns float (C, T, H, W), the layout the batch contract
needs after collate (B, C, T, H, W).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class JitterParams:
    """Colour-jitter factors as in torchvision's ``ColorJitter``: identity is (1, 1, 1, 0).

    ``order`` lists the adjustments to apply, by index: 0 brightness, 1 contrast, 2 saturation, 3 hue.
    """

    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0
    order: tuple[int, ...] = (0, 1, 2, 3)


def color_jitter(video: Tensor, params: JitterParams) -> Tensor:
    """Apply brightness / contrast / saturation / hue adjustments in ``params.order``.

    brightness: ``x * b``; contrast: ``c x + (1 - c) mean(gray(x))`` (mean per frame, as torchvision);
    saturation: ``s x + (1 - s) gray(x)``; hue: shift of the HSV hue by ``h`` turns. Results are clamped
    to the valid range. (T, C, H, W) -> (T, C, H, W).
    """
    out = video
    for index in params.order:
        if index == 0 and params.brightness != 1.0:
            out = TF.adjust_brightness(out, params.brightness)
        elif index == 1 and params.contrast != 1.0:
            out = TF.adjust_contrast(out, params.contrast)
        elif index == 2 and params.saturation != 1.0:
            out = TF.adjust_saturation(out, params.saturation)
        elif index == 3 and params.hue != 0.0:
            out = TF.adjust_hue(out, params.hue)
    return out.clone() if out is video else out


def grayscale(video: Tensor) -> Tensor:
    """ITU-R 601 luma ``0.299 R + 0.587 G + 0.114 B`` (torchvision uses 0.2989; uint8 truncates)
    replicated to 3 channels: (T, 3, H, W) -> (T, 3, H, W).
    """
    return TF.rgb_to_grayscale(video, num_output_channels=3).contiguous()


def gaussian_blur(video: Tensor, kernel_size: int, sigma: float) -> Tensor:
    """Separable Gaussian blur, ``k(i) ∝ exp(-i^2 / (2 sigma^2))`` for ``|i| <= kernel_size // 2``,
    reflect padding. ``kernel_size`` must be odd. (T, C, H, W) -> (T, C, H, W).
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    return TF.gaussian_blur(video, [kernel_size, kernel_size], [sigma, sigma])


def to_float(video: Tensor) -> Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; float input is returned as float32 unchanged in value."""
    if video.dtype == torch.uint8:
        return video.to(torch.float32) / 255.0
    return video.to(torch.float32)


def normalize(
    video: Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Tensor:
    """(T, C, H, W) uint8 or [0, 1] float -> float (C, T, H, W) with ``(x - mean_c) / std_c``."""
    x = to_float(video)
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return ((x - mean_t) / std_t).permute(1, 0, 2, 3).contiguous()


def denormalize(
    images: Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Tensor:
    """Normalised images (B, C, H, W) (``normalize``'s output, frames stacked as a batch) -> float [0, 1]
    (clamped): the inverse of ``normalize`` for ops that work on pixel values (OpenCV, corruptions)."""
    mean_t = torch.as_tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return (images * std_t + mean_t).clamp(0.0, 1.0)


def renormalize(
    pixels: Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Tensor:
    """[0, 1] images (B, C, H, W) -> normalised ``(x - mean_c) / std_c``, same layout (``denormalize``'s
    inverse)."""
    mean_t = torch.as_tensor(mean, dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
    return (pixels - mean_t) / std_t
