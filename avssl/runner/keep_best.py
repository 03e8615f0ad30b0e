"""The `eval.keep_best` / `eval.best_mode` keys every recipe's eval section carries (`avssl.runner.best`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class KeepBest:
    """`keep_best`: a metric of the evaluations (a dotted key of RUN/eval.json, e.g. "cIoU", "mIoU",
    "audio_to_video.R@1"); each periodic and the final evaluation that improves it (`best_mode`: "max" or
    "min") exports the model to RUN/best/, a run directory of its own (config.yaml, model/, best.json with
    the step and the value). None: off. The criterion is whatever the evaluators measure: on a labelled test set
    (eval.root) the kept model is chosen on that set."""

    keep_best: str | None = None
    best_mode: Literal["max", "min"] = "max"
