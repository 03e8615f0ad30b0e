"""The batch contract (docs/architecture.md, "The batch"): the keys of a collated batch, their types and
shapes.

:class:`Batch` documents them as a TypedDict (B = batch size): what the data loaders produce and what a
task's ``forward(batch)`` may read. Every key but ``video``/``audio``/``index``/``meta`` is optional (a
source or a method may not have it). Per sample, inside data code before the transform, ``video`` is uint8
(T, 3, H, W).

``views`` (multi-view methods, ``DataConfig.views``): one dict per view with that view's ``video``
(B, C, T, H_k, W_k) (stacked per view: views of different sizes are never stacked together), ``audio``
(B, channels, samples) when the view keeps it, and its recorded params: ``geometry`` (list per sample), and
for clips ``start_s`` (B,) float64, ``padded`` (B,) bool and ``frame_s`` (B, T) float64 (frame-centre
times, s) of the view's window. The batch's own ``video`` /
``audio`` / ``geometry`` are view 0's. Images are one-frame clips: ``video`` (B, C, 1, H, W). Window rules:
:mod:`avssl.data.sampling`.
"""

from __future__ import annotations

from typing import Any, TypedDict

from torch import Tensor

from avssl.transforms.functional.geometry import GeometryRecord


class Batch(TypedDict, total=False):
    """A collated batch. Shapes after ``collate``."""

    video: Tensor  # float (B, C, T, H, W), normalised; a single frame is T = 1
    audio: Tensor  # float (B, channels, samples) waveform at the data's sample rate; binaural keeps 2
    # (`audio` and `sample_rate` are absent for video-only layouts: ucf101, hmdb51, kinetics, diving48)
    motion: Tensor  # float (B, C, T, H, W): frame differences or flow
    mask: Tensor  # (B, T, H, W) in {0, 1}
    boxes: list[Tensor]  # per sample (N_i, 4) xyxy, pixels of the returned frame
    index: Tensor  # (B,) long: the items' positions in the dataset
    label: Tensor  # (B,) long
    meta: list[dict[str, Any]]  # per sample: path, start_s, … (anything not a tensor)
    geometry: list[list[GeometryRecord]]  # per sample, the geometric ops applied in order (equivariance)
    sample_rate: int  # the rate of `audio` (one value for the batch)
    views: list[dict[str, Any]]  # one batch-like dict per view (DataConfig.views): see the module doc
    bad_items: list[Any]  # the items the training loader skipped or replaced (bad-item policy)
    num_items: int  # how many items the loader asked for
