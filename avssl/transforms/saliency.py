"""Unsupervised saliency: where the object of an image is, without labels or training.

* Random-init CNN (TOBIAS's finding: the activations of a *randomly initialised* convolutional network
  already localise objects): an ImageNet-normalised image goes through a ResNet whose weights are drawn
  from torchvision's initialisation under a fixed seed (never trained); the saliency map is the channel
  mean of the post-ReLU activations of one stage (`layer`), upsampled to the image and scaled to [0, 1]
  per image. The network and its draw are fixed by (`arch`, `seed`): the same image gets the same map in
  every process and run.
* Spectral residual (Hou & Zhang, "Saliency Detection: A Spectral Residual Approach", CVPR 2007), the
  classical fallback: on the grey image resized to 64 px, the log-amplitude spectrum L minus its 3 × 3
  local mean is the residual R; the saliency map is |IFFT(exp(R + iφ))|² (φ the phase) smoothed with a
  Gaussian (σ = `sigma`, 64-px units), resized back, scaled to [0, 1].

From a map: `foreground_mask` keeps the pixels above the map's mean (or the `ratio` most salient ones); `grid_mask` keeps the most salient
cells of a g × g grid (TOBIAS's grid: 4 × 4 cells, about 30 % of them foreground); `saliency_box` is the
map's saliency-weighted extent (pixels, xyxy, x1/y1 exclusive).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

SaliencyMethod = Literal["random_cnn", "spectral_residual"]
SALIENCY_METHODS = ("random_cnn", "spectral_residual")
_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
STAGES = ("layer1", "layer2", "layer3", "layer4")


@lru_cache(maxsize=4)
def random_network(arch: str = "resnet18", layer: str = "layer1", seed: int = 0) -> nn.Module:
    """A torchvision ResNet (`arch`) with weights drawn under `seed` (no training, no download), cut after
    stage `layer`, in eval mode (its BatchNorm layers are then the identity of a fresh network)."""
    import torchvision

    if layer not in STAGES:
        raise ValueError(f"saliency layer must be one of {STAGES}, got {layer!r}")
    builders = {"resnet18": torchvision.models.resnet18, "resnet50": torchvision.models.resnet50}
    if arch not in builders:
        raise ValueError(f"random-init saliency arch must be one of {sorted(builders)}, got {arch!r}")
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        net = builders[arch](weights=None)
    finally:
        torch.random.set_rng_state(state)
    parts = [net.conv1, net.bn1, net.relu, net.maxpool]
    for name in STAGES[: STAGES.index(layer) + 1]:
        parts.append(getattr(net, name))
    return nn.Sequential(*parts).eval().requires_grad_(False)


def _as_unit_images(images: Tensor) -> Tensor:
    """uint8 or [0, 1] float (B, 3, H, W) (or one (3, H, W) image) → float [0, 1] (B, 3, H, W)."""
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"saliency takes RGB images (B, 3, H, W), got shape {tuple(images.shape)}")
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


def _unit_range(maps: Tensor) -> Tensor:
    flat = maps.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1), flat.max(1).values.view(-1, 1, 1)
    return (maps - lo) / (hi - lo).clamp_min(1e-12)


@torch.no_grad()
def random_cnn_saliency(
    images: Tensor, arch: str = "resnet18", layer: str = "layer1", seed: int = 0
) -> Tensor:
    """RGB images (B, 3, H, W), uint8 or [0, 1] → (B, H, W) saliency in [0, 1] (TOBIAS)."""
    x = _as_unit_images(images)
    net = random_network(arch, layer, seed)
    net.to(x.device)
    act = net((x - _MEAN.to(x.device)) / _STD.to(x.device)).mean(1, keepdim=True)
    maps = F.interpolate(act, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return _unit_range(maps)


def _gaussian_kernel(sigma: float) -> Tensor:
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    return (k / k.sum()).float()


def _blur(maps: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (B, H, W), reflecting at the borders."""
    k = _gaussian_kernel(sigma).to(maps.device)
    r = (len(k) - 1) // 2
    x = maps[:, None]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return x[:, 0]


@torch.no_grad()
def spectral_residual_saliency(images: Tensor, work_size: int = 64, sigma: float = 2.5) -> Tensor:
    """RGB images (B, 3, H, W), uint8 or [0, 1] → (B, H, W) saliency in [0, 1] (Hou & Zhang 2007)."""
    x = _as_unit_images(images)
    grey = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    small = F.interpolate(grey, size=(work_size, work_size), mode="area")[:, 0].double()
    spectrum = torch.fft.fft2(small)
    log_amp, phase = torch.log(spectrum.abs().clamp_min(1e-12)), torch.angle(spectrum)
    local_mean = F.avg_pool2d(F.pad(log_amp[:, None], (1, 1, 1, 1), mode="replicate"), 3, stride=1)[:, 0]
    residual = log_amp - local_mean
    maps = torch.fft.ifft2(torch.exp(residual + 1j * phase)).abs() ** 2
    maps = _blur(maps.float(), sigma)
    maps = F.interpolate(maps[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return _unit_range(maps)


def saliency(images: Tensor, method: SaliencyMethod = "random_cnn", **kwargs) -> Tensor:
    """(B, 3, H, W) → (B, H, W) in [0, 1] by `method` (`SALIENCY_METHODS`)."""
    if method == "random_cnn":
        return random_cnn_saliency(images, **kwargs)
    if method == "spectral_residual":
        return spectral_residual_saliency(images, **kwargs)
    raise ValueError(f"unknown saliency method {method!r}; choose one of {', '.join(SALIENCY_METHODS)}")


def foreground_mask(maps: Tensor, ratio: float | None = None) -> Tensor:
    """(B, H, W) saliency → bool (B, H, W): the pixels above each map's own mean (`ratio` None, the
    default), or each map's round(ratio · H · W) most salient pixels."""
    if ratio is None:
        return maps > maps.flatten(1).mean(1).view(-1, *[1] * (maps.dim() - 1))
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"foreground ratio must be in (0, 1], got {ratio}")
    flat = maps.flatten(1)
    k = max(1, round(ratio * flat.shape[1]))
    idx = flat.topk(k, dim=1).indices
    return torch.zeros_like(flat, dtype=torch.bool).scatter_(1, idx, True).view_as(maps)


def grid_mask(maps: Tensor, cells: int = 4, ratio: float | None = 0.3) -> Tensor:
    """(B, H, W) saliency → bool (B, H, W): the round(ratio · cells²) grid cells (at least one) of highest
    mean saliency are foreground (TOBIAS's cell grid; cell edges at round(i · H / cells))."""
    b, h, w = maps.shape
    ys = [round(i * h / cells) for i in range(cells + 1)]
    xs = [round(i * w / cells) for i in range(cells + 1)]
    score = torch.stack(
        [
            maps[:, ys[i] : ys[i + 1], xs[j] : xs[j + 1]].mean((1, 2))
            for i in range(cells)
            for j in range(cells)
        ],
        1,
    )  # (B, cells²)
    chosen = foreground_mask(score.view(b, cells, cells), ratio)  # ratio None: cells above the mean
    rows = torch.repeat_interleave(chosen, torch.tensor(np.diff(ys), device=maps.device), dim=1)
    return torch.repeat_interleave(rows, torch.tensor(np.diff(xs), device=maps.device), dim=2)


def saliency_box(maps: Tensor) -> list[float]:
    """(H, W) saliency → [x0, y0, x1, y1]: the saliency-weighted extent of the map. Weights w = max(0,
    map − mean(map)); per axis the box is the weighted centre ± √3 weighted standard deviations (the half-
    width of a uniform object of that deviation), clipped to the image. It scales with the object, where a
    fixed-fraction threshold does not (objects of a few percent of the image and of most of it alike)."""
    h, w = maps.shape
    weights = (maps - maps.mean()).clamp_min(0).double()
    total = weights.sum()
    if total <= 0:  # a flat map: no evidence, the whole image
        return [0.0, 0.0, float(w), float(h)]
    box = []
    for axis, n in ((0, w), (1, h)):  # x: sum over rows; y: sum over columns
        profile = weights.sum(axis)
        pos = torch.arange(n, dtype=torch.float64, device=maps.device) + 0.5
        centre = (profile * pos).sum() / total
        half = math.sqrt(3.0) * ((profile * (pos - centre) ** 2).sum() / total).sqrt()
        box.append((max(0.0, float(centre - half)), min(float(n), float(centre + half))))
    return [box[0][0], box[1][0], box[0][1], box[1][1]]
