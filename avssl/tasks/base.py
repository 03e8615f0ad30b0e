"""The task contract: what the training loop, the evaluators and inference may ask of a method.

A task is an ``nn.Module`` whose ``forward(batch)`` returns a :class:`TaskOutput`: the scalar ``loss`` to
back-propagate and ``logs``, named values the loop records as they are (detached, averaged over gradient
accumulation micro-steps and processes) — loss parts as ``"loss/<part>"``, and anything else worth a curve
(``"acc/<pretext>"``, ``"logit_scale"``). There is no filtering by name: every entry of ``logs`` reaches
``metrics.jsonl``.

What else a task can do is declared, not guessed (this module uses Protocols rather than a base class, so
the methods keep at most one level of subclassing, e.g. ``LVS(AVLocalizer)``):

- ``embeds: frozenset[str]`` — the modalities ``embed(batch, modality) -> (B, D)`` answers for, named
  after the batch keys they read (``{"video", "audio"}`` for audio-visual methods; ``{"video"}`` for image
  methods too, an image being a one-frame clip in the batch contract; empty when the method has no
  embedding). Every task declares it; retrieval and probes (``avssl.evaluation.embed.embed``) are
  driven by it.
- :class:`Localizer` — ``localize(batch) -> (B, h, w)`` maps, higher = sounding.
- :class:`Segmenter` — ``segment(batch) -> (B, T, H, W)`` mask probabilities.
- :class:`BallEmbedder` — ``embed_ball(batch) -> (B, D)`` points of a Poincaré ball of curvature
  −``curvature`` (HCL's scenes and objects; scene→object retrieval scores them by hyperbolic distance).
- :class:`StepHook` — ``on_step_end(step, max_steps)``, called by the loop after every optimizer step
  (momentum encoders; ``max_steps`` lets a schedule depend on the progress of the run).

``capabilities(task)`` lists what a task offers; it checks the declared ``embeds`` against the
``embed`` method, so a task that declares a modality without implementing ``embed`` is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from avssl.config import ConfigError

MODALITIES = ("video", "audio")


class CapabilityError(ConfigError):
    """A task was asked for something it does not declare (e.g. to embed a modality it has no embedding
    for); a user error, reported by the CLI in one line."""


@dataclass
class TaskOutput:
    """One forward pass: ``loss`` (scalar tensor, with grad) and ``logs`` (every entry recorded)."""

    loss: Tensor
    logs: dict[str, Tensor | float] = field(default_factory=dict)

    def detached_logs(self) -> dict[str, Tensor]:
        """``{"loss": loss, **logs}`` as detached float tensors (what the loop records)."""
        out = {"loss": self.loss.detach().float()}
        for key, value in self.logs.items():
            out[key] = value.detach().float() if isinstance(value, Tensor) else torch.tensor(float(value))
        return out


@runtime_checkable
class Task(Protocol):
    """Every registered method: ``forward(batch) -> TaskOutput`` and the modalities it embeds."""

    embeds: frozenset[str]

    def __call__(self, batch: dict) -> TaskOutput: ...


@runtime_checkable
class Embedder(Protocol):
    """``embed(batch, modality) -> (B, D)`` for every modality in ``embeds``."""

    embeds: frozenset[str]

    def embed(self, batch: dict, modality: str) -> Tensor: ...


@runtime_checkable
class Localizer(Protocol):
    """Sound-source localization maps: ``localize(batch) -> (B, h, w)``, higher = sounding."""

    def localize(self, batch: dict) -> Tensor: ...


@runtime_checkable
class Segmenter(Protocol):
    """Audio-visual segmentation: ``segment(batch) -> (B, T, H, W)`` mask probabilities."""

    def segment(self, batch: dict) -> Tensor: ...


@runtime_checkable
class BallEmbedder(Protocol):
    """Hyperbolic embeddings (HCL): ``embed_ball(batch) -> (B, D)`` points of the Poincaré ball of curvature
    −``curvature`` for ``batch["video"]`` (scored by −d_c, ``avssl.modules.hyperbolic``)."""

    curvature: float

    def embed_ball(self, batch: dict) -> Tensor: ...


@runtime_checkable
class StepHook(Protocol):
    """Called by the loop after every optimizer step with the step just finished and the run's length."""

    def on_step_end(self, step: int, max_steps: int) -> None: ...


@dataclass(frozen=True)
class Capabilities:
    """What a task offers besides training: embedded modalities, localization, segmentation, step hook."""

    embeds: frozenset[str]
    localize: bool
    segment: bool
    step_hook: bool


def capabilities(task: object) -> Capabilities:
    """The declared capabilities of ``task``; raises when ``embeds`` is missing, names an unknown modality
    or is not backed by an ``embed`` method."""
    embeds = getattr(task, "embeds", None)
    if not isinstance(embeds, frozenset):
        raise TypeError(f"{type(task).__name__} must declare `embeds: frozenset[str]` (may be empty)")
    unknown = embeds - set(MODALITIES)
    if unknown:
        raise ValueError(f"{type(task).__name__}.embeds names unknown modalities {sorted(unknown)}")
    if embeds and not isinstance(task, Embedder):
        raise TypeError(
            f"{type(task).__name__} declares embeds={sorted(embeds)} but has no embed(batch, modality)"
        )
    return Capabilities(
        embeds=embeds,
        localize=isinstance(task, Localizer),
        segment=isinstance(task, Segmenter),
        step_hook=isinstance(task, StepHook),
    )


def check_modality(task: object, modality: str) -> None:
    """Raise a :class:`CapabilityError` naming what ``task`` embeds when it cannot embed ``modality``."""
    embeds = capabilities(task).embeds
    if modality not in embeds:
        offered = ", ".join(sorted(embeds)) or "nothing"
        raise CapabilityError(f"{type(task).__name__} cannot embed {modality!r}; it embeds {offered}")


def two_views(batch: dict, task: str) -> list:
    """`batch["views"]`: the two clips of each video the video contrastive tasks pair; a clear error otherwise."""
    views = batch.get("views")
    if not views or len(views) != 2:
        raise ValueError(f"{task} needs two clips per video: set data.views to two views")
    return views
