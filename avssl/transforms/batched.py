"""Batched, on-device augmentation of whole batches (tensors already on the accelerator).

The per-sample transforms of :mod:`avssl.transforms` run in data-loader workers; these run inside a task's
``forward`` on the collated batch, to make a second view of the same clips (SSL-TIE: Liu, Ju, Xie & Zhang,
"Exploiting Transformation Invariance and Equivariance for Self-supervised Sound Localisation", ACM MM 2022):

- random geometric chains recorded as :class:`~avssl.transforms.functional.geometry.GeometryRecord` lists
  (:func:`sample_geometry`) and a batched warp of the frames with exactly the semantics of
  ``apply_geometry_to_maps`` (:func:`warp_frames`);
- per-sample colour jitter / grayscale of normalised frames (:func:`augment_appearance`);
- waveform gain / circular shift (:func:`augment_waveform`);
- SpecAugment on an audio encoder's log-mel output (:func:`spec_masking`, a forward hook).

Random draws use torch's global (CPU) generator unless one is passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.transforms.audio import RandomSpecMask
from avssl.transforms.functional import appearance as FA
from avssl.transforms.functional import audio as FAu
from avssl.transforms.functional.appearance import IMAGENET_MEAN, IMAGENET_STD
from avssl.transforms.functional.geometry import GeometryRecord, HFlip, ResizedCrop, Rotate, Size
from avssl.transforms.video import ColorJitter


@runtime_checkable
class SpectrogramFrontEnd(Protocol):
    """A log-spectrogram front end that knows what a silent (zero-power) input becomes."""

    def silence_level(self) -> float: ...


@dataclass
class GeometryConfig:
    """Random geometric transform of SSL-TIE's second view: crop-resize, then h-flip, then rotation.

    Defaults from the released SSL-TIE code and scripts: rescaling with probability 0.5 by a factor in
    [0.5, 1] (``--rescale_factor 0.5 1.0``; the code zooms out, here a crop of that side fraction is zoomed
    in, so the map keeps its size), horizontal flip with probability 0.5, rotation by U[-30, 30] degrees
    (``--max_rotation_angle 30``).
    """

    crop_prob: float = 0.5
    crop_side: tuple[float, float] = (0.5, 1.0)
    hflip_prob: float = 0.5
    max_rotation: float = 30.0


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def sample_geometry(
    batch_size: int, size: Size, cfg: GeometryConfig, generator: torch.Generator | None = None
) -> list[list[GeometryRecord]]:
    """One random chain per sample (any op may be skipped; an empty chain is the identity)."""
    chains: list[list[GeometryRecord]] = []
    size = (int(size[0]), int(size[1]))
    for _ in range(batch_size):
        ops = []
        if torch.rand((), generator=generator).item() < cfg.crop_prob:
            side = _uniform(*cfg.crop_side, generator)
            top, left = _uniform(0.0, 1.0 - side, generator), _uniform(0.0, 1.0 - side, generator)
            ops.append(ResizedCrop(top, left, side, side))
        if torch.rand((), generator=generator).item() < cfg.hflip_prob:
            ops.append(HFlip())
        if cfg.max_rotation > 0:
            ops.append(Rotate(_uniform(-cfg.max_rotation, cfg.max_rotation, generator)))
        chains.append([GeometryRecord(op, size, size) for op in ops])
    return chains


def chain_grids(
    records: list[list[GeometryRecord]], out_size: Size, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Batched sampling grids (B, h, w, 2) and validity (B, h, w) of per-sample chains, built on ``device``.

    Same maths as ``geometry._chain_grid`` (float64, pixel centres, a location is valid iff it stays inside
    the canvas at every stage), vectorised over the batch; shorter chains are padded with identities.
    """
    batch, steps = len(records), max((len(r) for r in records), default=0)
    thetas = torch.eye(3, dtype=torch.float64).repeat(batch, max(steps, 1), 1, 1)
    for b, chain in enumerate(records):
        for k, rec in enumerate(chain):
            thetas[b, k] = rec.op.theta(rec.in_size)
    thetas = thetas.to(device)
    oh, ow = out_size
    ys = (2 * torch.arange(oh, dtype=torch.float64, device=device) + 1) / oh - 1
    xs = (2 * torch.arange(ow, dtype=torch.float64, device=device) + 1) / ow - 1
    uv = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).expand(batch, oh, ow, 2)  # (u, v)
    valid = torch.ones(batch, oh, ow, dtype=torch.bool, device=device)
    for k in reversed(range(thetas.shape[1])):
        uv = torch.einsum("bhwj,bij->bhwi", uv, thetas[:, k, :2, :2]) + thetas[:, k, None, None, :2, 2]
        valid &= (uv.abs() <= 1 + 1e-9).all(dim=-1)
    return uv, valid


def warp_frames(frames: Tensor, records: list[list[GeometryRecord]]) -> Tensor:
    """T(x) for frames (B, C, H, W) or (B, C, T, H, W): bilinear, edge-replicated inside the canvas, 0 where
    any op filled (0 is the mean colour of normalised frames) -- the semantics of ``apply_geometry_to_maps``,
    in one batched ``grid_sample`` on the frames' device."""
    shape = frames.shape
    flat = frames.reshape(shape[0], -1, shape[-2], shape[-1])  # (B, C*T, H, W)
    grid, valid = chain_grids(records, (shape[-2], shape[-1]), frames.device)
    out = F.grid_sample(
        flat, grid.to(flat.dtype), mode="bilinear", padding_mode="border", align_corners=False
    )
    return (out * valid[:, None].to(out.dtype)).reshape(shape)


@dataclass
class AppearanceConfig:
    """On-device appearance augmentation of SSL-TIE's second view (invariance).

    MoCo v2's colour augmentation, which SSL-TIE trains with (``--img_aug moco_v2``): colour jitter
    (0.4, 0.4, 0.4, 0.1) with probability 0.8, in random order, then grayscale with probability 0.2
    (Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning"). ``mean``/``std`` undo the
    batch's normalisation: None = the data's (filled in by :func:`avssl.runner.data_facts.derive_data_facts`; ImageNet
    statistics when used on its own).
    """

    jitter_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_prob: float = 0.2
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


def augment_appearance(
    frames: Tensor, cfg: AppearanceConfig, generator: torch.Generator | None = None
) -> Tensor:
    """Per-sample colour jitter / grayscale of normalised frames (B, C, H, W) or (B, C, T, H, W).

    Pixels are mapped back to [0, 1], augmented with :mod:`avssl.transforms.functional.appearance` (the same
    factors for every frame of a clip) and normalised again.
    """
    clips = frames if frames.ndim == 5 else frames[:, :, None]  # (B, C, T, H, W)
    mean_values = IMAGENET_MEAN if cfg.mean is None else cfg.mean
    std_values = IMAGENET_STD if cfg.std is None else cfg.std
    mean = torch.tensor(mean_values, dtype=frames.dtype, device=frames.device).view(1, -1, 1, 1, 1)
    std = torch.tensor(std_values, dtype=frames.dtype, device=frames.device).view(1, -1, 1, 1, 1)
    pixels = (clips * std + mean).clamp(0.0, 1.0)
    jitter = ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)
    out = []
    for clip in pixels.transpose(1, 2):  # (T, C, H, W) per sample
        if torch.rand((), generator=generator).item() < cfg.jitter_prob:
            clip = FA.color_jitter(clip, jitter.sample_params(generator))
        if torch.rand((), generator=generator).item() < cfg.grayscale_prob:
            clip = FA.grayscale(clip)
        out.append(clip)
    augmented = (torch.stack(out).transpose(1, 2) - mean) / std
    return augmented.reshape(frames.shape)


@dataclass
class AudioAugConfig:
    """On-device audio augmentation of SSL-TIE's second view (invariance).

    SpecAugment masking as SSL-TIE's code (``--aud_aug SpecAug``: with probability 0.8, one time band of
    up to 180 of its ~670 frames and one frequency band of up to 35 of its 257 mel bins, i.e. the fractions
    0.27 and 0.136 used here); Park et al. 2019. Gain (U[-gain_db, gain_db] dB) and circular time shift
    (U[-max_shift_s, max_shift_s]) are avssl's additions (not in the paper); set them to 0 to disable.

    ``spec_views``: ``"second"`` masks view 2's spectrogram only (view 1 stays clean); ``"both"`` masks view
    1's as well, as the released code does (its data loader masks the one spectrogram both views use): with
    ``gain_db = max_shift_s = 0`` view 2 then reuses view 1's masked audio, exactly the release's sharing.
    """

    gain_db: float = 6.0
    max_shift_s: float = 0.5
    spec_prob: float = 0.8
    spec_time_frac: float = 0.27
    spec_freq_frac: float = 0.136
    spec_views: Literal["second", "both"] = "second"

    def changes_waveform(self) -> bool:
        """Whether view 2's waveform differs from view 1's (gain or shift on)."""
        return self.gain_db > 0 or self.max_shift_s > 0


def augment_waveform(
    audio: Tensor, cfg: AudioAugConfig, sample_rate: int, generator: torch.Generator | None = None
) -> Tensor:
    """Per-sample gain and circular shift of (B, ch, S): ``y[n] = g_b x[(n - k_b) mod S]``."""
    batch, _, length = audio.shape
    db = (2 * torch.rand(batch, generator=generator) - 1) * cfg.gain_db
    shift = torch.round((2 * torch.rand(batch, generator=generator) - 1) * cfg.max_shift_s * sample_rate)
    out = FAu.gain(audio, db.to(audio.device, audio.dtype).view(batch, 1, 1))
    if cfg.max_shift_s > 0:
        index = torch.arange(length) - shift.long()[:, None]  # (B, S): source sample of each output one
        index = index.remainder(length).to(audio.device)
        out = out.gather(2, index[:, None, :].expand_as(out))
    return out


def mask_spectrogram(
    spec: Tensor, cfg: AudioAugConfig, fill: float, generator: torch.Generator | None = None
) -> Tensor:
    """SpecAugment on (B, 1, F, T) with probability ``spec_prob`` per example; masked bins get ``fill``."""
    n_freq, n_time = spec.shape[-2], spec.shape[-1]
    masker = RandomSpecMask(int(cfg.spec_time_frac * n_time), int(cfg.spec_freq_frac * n_freq), value=fill)
    apply = torch.rand(spec.shape[0], generator=generator) < cfg.spec_prob
    view = (-1,) + (1,) * (spec.ndim - 1)
    return torch.where(apply.to(spec.device).view(view), masker(spec, generator), spec)


@contextmanager
def spec_masking(encoder: nn.Module, cfg: AudioAugConfig) -> Iterator[None]:
    """Within the block, the audio encoder's log-mel front end output is SpecAugment-masked (a forward
    hook, so any encoder whose ``frontend`` is a :class:`~avssl.encoders.audio.LogMelFrontEnd` works
    unchanged); masked bins take the front end's output for silence."""
    if cfg.spec_prob <= 0:
        yield
        return
    frontend = getattr(encoder, "frontend", None)
    if not isinstance(frontend, nn.Module) or not isinstance(frontend, SpectrogramFrontEnd):
        raise ValueError(
            "spectrogram masking needs an audio encoder with a log-mel `frontend` (LogMelFrontEnd)"
        )
    fill = frontend.silence_level()
    handle = frontend.register_forward_hook(lambda module, args, out: mask_spectrogram(out, cfg, fill))
    try:
        yield
    finally:
        handle.remove()
