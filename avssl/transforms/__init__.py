"""Sample transforms: pure ops in ``functional/`` and thin wrappers owning the randomness.

``TRANSFORMS`` maps config names to wrapper classes; ``build_transforms`` turns a config list such as
``[{"name": "random_resized_crop", "size": 224, "scale": [0.2, 1.0]}, {"name": "normalize"}]`` into a
:class:`Compose`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from avssl.transforms.audio import AudioGain, AudioTimeShift
from avssl.transforms.clip import ClipAugment, FrameSubset
from avssl.transforms.compose import Compose, Transform
from avssl.transforms.motion import FrameDifference, OpticalFlow
from avssl.transforms.tracking import ObjectTrack, TrackCrop
from avssl.transforms.tubes import FlowTubes
from avssl.transforms.video import (
    CenterCrop,
    ColorJitter,
    GaussianBlur,
    Normalize,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    Resize,
)

TRANSFORMS: dict[str, type[Transform]] = {
    "random_resized_crop": RandomResizedCrop,
    "random_horizontal_flip": RandomHorizontalFlip,
    "random_rotation": RandomRotation,
    "resize": Resize,
    "center_crop": CenterCrop,
    "color_jitter": ColorJitter,
    "random_grayscale": RandomGrayscale,
    "gaussian_blur": GaussianBlur,
    "normalize": Normalize,
    "clip_augment": ClipAugment,
    "frame_subset": FrameSubset,
    "optical_flow": OpticalFlow,
    "frame_difference": FrameDifference,
    "flow_tubes": FlowTubes,
    "object_track": ObjectTrack,
    "track_crop": TrackCrop,
    "audio_gain": AudioGain,
    "audio_time_shift": AudioTimeShift,
}


def build_transform(spec: Mapping[str, Any]) -> Transform:
    """One transform from ``{"name": <key of TRANSFORMS>, <constructor argument>: value, ...}``."""
    args = dict(spec)
    name = args.pop("name", None)
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r}; known: {sorted(TRANSFORMS)}")
    try:
        return TRANSFORMS[name](**args)
    except TypeError as err:
        raise ValueError(f"bad arguments for transform {name!r}: {err}") from err


def pipeline_normalization(
    specs: Sequence[Mapping[str, Any]],
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """``(mean, std)`` of the pipeline's ``normalize`` step (its defaults where the spec leaves them out),
    or None when the pipeline does not normalise: the one statement of a run's normalisation."""
    steps = [spec for spec in specs if spec.get("name") == "normalize"]
    if not steps:
        return None
    step = build_transform(steps[-1])
    assert isinstance(step, Normalize)
    return step.mean, step.std


def build_transforms(specs: Sequence[Mapping[str, Any]], seed: int | None = None) -> Compose:
    """A :class:`Compose` of ``build_transform(spec)`` for each spec, in order."""
    return Compose([build_transform(spec) for spec in specs], seed=seed)


__all__ = [
    "TRANSFORMS",
    "Compose",
    "Transform",
    "build_transform",
    "build_transforms",
    "pipeline_normalization",
]
