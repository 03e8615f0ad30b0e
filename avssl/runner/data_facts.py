"""Facts of the data stated once: the model config's restatements of them (every audio front end's sample
rate, the mean / std that undo the frames' normalisation) are filled in from `cfg.data` when the runner
parses a recipe config, and a restatement that disagrees is a ConfigError naming both keys."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, TypeVar

from avssl.config import ConfigError
from avssl.encoders.config import AudioFrontEndConfig, BinauralFrontEndConfig, FlowConfig, VGGishConfig
from avssl.transforms import pipeline_normalization
from avssl.transforms.batched import AppearanceConfig

# config sections restating a fact of the data: the waveform's rate, the frames' normalisation
RATE_SECTIONS = (AudioFrontEndConfig, BinauralFrontEndConfig, VGGishConfig)
NORMALIZATION_SECTIONS = (FlowConfig, AppearanceConfig)

T = TypeVar("T")


def data_normalization(data: Any) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """``(mean, std)`` of the data's ``normalize`` step (``data.eval_transforms``, else ``data.transforms``);
    ConfigError when the two pipelines normalise differently."""
    train = pipeline_normalization(getattr(data, "transforms", []))
    evaluation = pipeline_normalization(getattr(data, "eval_transforms", []))
    if train is not None and evaluation is not None and train != evaluation:
        raise ConfigError(
            f"data.transforms normalises with {train} but data.eval_transforms with {evaluation}: they must agree"
        )
    return evaluation if evaluation is not None else train


def _sections(node: Any, key: str) -> Iterator[tuple[str, Any]]:
    """Every dataclass inside ``node`` (depth first, lists included) with its dotted config key."""
    if dataclasses.is_dataclass(node):
        yield key, node
        for f in dataclasses.fields(node):
            yield from _sections(getattr(node, f.name), f"{key}.{f.name}")
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from _sections(item, f"{key}[{i}]")


def _derive(section: Any, key: str, fields: dict[str, tuple[str, Any]]) -> None:
    """Set each of ``fields`` (name → (data key, data value)) left at None; a different value is an error."""
    for name, (data_key, value) in fields.items():
        current = getattr(section, name)
        if current is None:
            setattr(section, name, value)
        elif current != value:
            raise ConfigError(
                f"config key '{key}.{name}' is {current!r} but '{data_key}' is {value!r}: it is the data's, "
                f"leave '{key}.{name}' unset"
            )


def derive_data_facts(cfg: T) -> T:
    """Fill the model config's restatements of data facts from ``cfg.data``, in place, and return ``cfg``.

    The sample rate of every audio front end is ``data.sample_rate`` and the ``mean``/``std`` that undo the
    frames' normalisation (RAFT input, SSL-TIE's on-device colour augmentation) are the data pipeline's
    ``normalize`` step: left unset (None) they are filled in, so the saved config states them; set to a
    different value they are a ConfigError naming both keys.
    """
    data = getattr(cfg, "data", None)
    if data is None:
        return cfg
    rate = getattr(data, "sample_rate", None)
    norm = data_normalization(data)
    for name in (f.name for f in dataclasses.fields(cfg) if f.name != "data"):
        for key, section in _sections(getattr(cfg, name), name):
            if isinstance(section, RATE_SECTIONS) and rate is not None:
                _derive(section, key, {"sample_rate": ("data.sample_rate", rate)})
            if isinstance(section, NORMALIZATION_SECTIONS) and norm is not None:
                where = "the normalize step of data.eval_transforms"
                _derive(section, key, {"mean": (where, tuple(norm[0])), "std": (where, tuple(norm[1]))})
    return cfg
