"""Load pretrained weights into encoders from local files (nothing here downloads).

Sources (``EncoderConfig.weights_source``):

- ``"encoder"``: a state dict of the encoder itself, in a ``.safetensors`` file or a torch file
  (``torch.load(..., weights_only=True)``). Checkpoints that nest it under ``'state_dict'`` or ``'model'``
  and keys prefixed by ``'module.'`` (DDP) or ``'_orig_mod.'`` (torch.compile) are unwrapped.
- ``"classifier"``: a state dict of the full classification network an encoder truncates, e.g.
  torchvision ``resnet18().state_dict()``: the encoder's :class:`ClassifierLayout` says where that network
  lives inside the encoder, which keys are its (dropped) head, and which first conv to adapt when the
  encoder takes a different number of input channels (:func:`adapt_first_conv`).
- ``"run"``: an avssl run directory; ``RUN/model/model.safetensors`` holds a whole task's state dict,
  and a prefix (e.g. ``"visual_encoder."``) picks the encoder's keys.
- a format an encoder declares in its ``weight_formats`` (name → converter of a file's state dict into
  the encoder's names, returning a :class:`ConvertedState`): the PVT-v2 encoders read ``"timm"`` (timm's
  classifier checkpoints) and ``"pvt_original"`` (the original PVT-v2 release's layout).

Mismatches are reported as :class:`LoadReport`; with ``strict=True`` (default) any missing, unexpected
or wrongly shaped key raises :class:`WeightsError` naming the file, before the module is modified.
"""

from __future__ import annotations

import argparse
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import safetensors.torch
import torch
from torch import Tensor, nn

WeightsSource = Literal["encoder", "classifier", "run", "timm", "pvt_original"]
RUN_WEIGHTS = Path("model") / "model.safetensors"
_NESTING_KEYS = ("state_dict", "model")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_LISTED = 8  # keys listed per category in an error message


# The plain, non-tensor values released files pickle beside their tensors, and nothing else: the training
# arguments (argparse.Namespace) and numpy scalars / arrays (scores, torchvggish's PCA parameters).
def _numpy_globals() -> list:
    """numpy's scalar / array reconstructors under the module names numpy 1 (``numpy.core``) and numpy 2
    (``numpy._core``) pickle them with, and the dtype classes a scalar carries."""
    core = getattr(np, "_core", None) or np.core
    found: list = [np.dtype, np.ndarray]
    for name in ("scalar", "_reconstruct"):
        function = getattr(core.multiarray, name)
        found += [(function, f"numpy.core.multiarray.{name}"), (function, f"numpy._core.multiarray.{name}")]
    found += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return found


SAFE_GLOBALS = [argparse.Namespace, *_numpy_globals()]


def load_plain(path: str | Path) -> object:
    """``torch.load`` of a file holding tensors, plain containers and ``SAFE_GLOBALS`` only: a file that
    pickles anything else raises ``pickle.UnpicklingError`` instead of running its code."""
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        return torch.load(path, map_location="cpu", weights_only=True)


class WeightsError(ValueError):
    """A weights file is missing, unreadable, or does not fit the encoder; the message names the file."""


@dataclass(frozen=True)
class ClassifierLayout:
    """Where an encoder keeps the classification network it truncates.

    ``module``: attribute path of that network inside the encoder ("" = the encoder itself);
    ``head``: key prefixes of the classifier head, ignored when loading; ``first_conv``: key of the
    first convolution's weight, adapted when the input channels differ.
    """

    module: str
    head: tuple[str, ...]
    first_conv: str


@dataclass
class ConvertedState:
    """A file's state dict renamed into an encoder's parameter names (``state``), and the file's keys
    deliberately left out (``ignored``: a classifier head)."""

    state: dict[str, Tensor]
    ignored: list[str] = field(default_factory=list)


@dataclass
class LoadReport:
    """Keys that did not fit: expected but absent, present but unknown, or of a different shape; and the
    file's keys deliberately not loaded (``ignored``: a classifier head; they do not make the load fail)."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self) -> str:
        parts = []
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                more = f", … (+{len(keys) - _LISTED})" if len(keys) > _LISTED else ""
                parts.append(f"{len(keys)} {label} key(s): {', '.join(keys[:_LISTED])}{more}")
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} wrongly shaped: {'; '.join(self.mismatched[:_LISTED])}")
        if self.ignored:
            parts.append(
                f"{len(self.ignored)} ignored (classifier head): {', '.join(self.ignored[:_LISTED])}"
            )
        return "; ".join(parts)


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict (name → tensor, on CPU) from a ``.safetensors`` file or a torch file.

    Unwraps ``{'state_dict': ...}`` / ``{'model': ...}`` nesting, strips ``module.``/``_orig_mod.``
    key prefixes and drops non-tensor entries. Raises :class:`WeightsError` naming ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            raw = safetensors.torch.load_file(str(path), device="cpu")
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any decoding failure means "not a weights file"
        raise WeightsError(
            f"cannot read weights file {path} (expected a .safetensors file or a torch checkpoint "
            f"loadable with weights_only=True): {_reason(err)}"
        ) from err
    while isinstance(raw, dict):
        nested = next((raw[k] for k in _NESTING_KEYS if isinstance(raw.get(k), dict)), None)
        if nested is None:
            break
        raw = nested
    if not isinstance(raw, dict):
        raise WeightsError(f"weights file {path} holds a {type(raw).__name__}, not a state dict")
    state = {_strip_wrappers(k): v for k, v in raw.items() if isinstance(v, Tensor)}
    if not state:
        raise WeightsError(f"weights file {path} holds no tensors (top-level keys: {sorted(raw)[:10]})")
    return state


def _reason(err: Exception) -> str:
    if isinstance(err, pickle.UnpicklingError):
        # torch's own message suggests weights_only=False, which would run arbitrary pickled code
        return "not a torch file, or it pickles objects other than tensors and plain containers"
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:200] if lines else ''}"


def _strip_wrappers(key: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix) :], True
    return key


def read_run_dir(run_dir: str | Path) -> dict[str, Tensor]:
    """The whole task state dict of an avssl run directory (``RUN/model/model.safetensors``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise WeightsError(f"run directory not found: {run_dir}")
    if not (run_dir / RUN_WEIGHTS).is_file():
        raise WeightsError(f"{run_dir} is not an avssl run directory: {run_dir / RUN_WEIGHTS} not found")
    return read_state_dict(run_dir / RUN_WEIGHTS)


def select_prefix(state: dict[str, Tensor], prefix: str, origin: str) -> dict[str, Tensor]:
    """Keys under ``prefix`` (a trailing '.' is implied), with the prefix stripped; '' keeps all."""
    if not prefix:
        return state
    prefix = prefix if prefix.endswith(".") else prefix + "."
    picked = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if not picked:
        roots = sorted({k.split(".", 1)[0] + "." for k in state})
        raise WeightsError(f"{origin}: no keys under prefix {prefix!r} (top-level prefixes: {roots})")
    return picked


def adapt_first_conv(weight: Tensor, in_channels: int) -> Tensor:
    """Spread a first-conv weight (O, C, *k) over ``in_channels`` inputs: w' = (Σ_c w_c) / C' per channel.

    An input whose C' channels all equal x then gives the response the original filter gives to a
    C-channel input whose channels all equal x (e.g. an ImageNet RGB stem on a 1-channel spectrogram).
    """
    summed = weight.sum(dim=1, keepdim=True) / in_channels
    return summed.repeat(1, in_channels, *([1] * (weight.ndim - 2))).contiguous()


def classifier_to_backbone(
    state: dict[str, Tensor], layout: ClassifierLayout, target: dict[str, Tensor]
) -> dict[str, Tensor]:
    """Drop the classifier head's keys and adapt the first conv to the ``target`` state's input channels."""
    out = {k: v for k, v in state.items() if not k.startswith(layout.head)}
    weight, expected = out.get(layout.first_conv), target.get(layout.first_conv)
    if weight is not None and expected is not None and weight.shape != expected.shape:
        same_filters = weight.shape[0] == expected.shape[0] and weight.shape[2:] == expected.shape[2:]
        if same_filters:
            out[layout.first_conv] = adapt_first_conv(weight, expected.shape[1])
    return out


def compare_state(module: nn.Module, state: dict[str, Tensor]) -> LoadReport:
    """What would not fit if ``state`` were loaded into ``module`` (BatchNorm's ``num_batches_tracked``
    may be absent, as in old torchvision checkpoints: torch then resets it)."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    return LoadReport(missing, unexpected, mismatched)


def load_state(module: nn.Module, state: dict[str, Tensor], origin: str, strict: bool = True) -> LoadReport:
    """Copy ``state`` into ``module``; strict → raise on any mismatch (module untouched), else load what fits."""
    report = compare_state(module, state)
    if strict and not report.ok:
        raise WeightsError(f"weights from {origin} do not fit {type(module).__name__}: {report.describe()}")
    expected = module.state_dict()
    fitting = {k: v for k, v in state.items() if k in expected and v.shape == expected[k].shape}
    module.load_state_dict(fitting, strict=False)
    return report


def load_encoder_weights(
    encoder: nn.Module,
    path: str | Path,
    source: WeightsSource = "encoder",
    prefix: str = "",
    strict: bool = True,
) -> LoadReport:
    """Load weights from ``path`` into ``encoder`` (sources: see the module docstring)."""
    formats: dict = getattr(encoder, "weight_formats", {})
    if source == "run":
        state, origin = read_run_dir(path), str(Path(path) / RUN_WEIGHTS)
    elif source in ("encoder", "classifier") or source in formats:
        state, origin = read_state_dict(path), str(path)
    else:
        known = ", ".join(repr(s) for s in dict.fromkeys(("encoder", "classifier", "run", *formats)))
        raise WeightsError(
            f"unknown weights source {source!r} for {type(encoder).__name__} ({path}): use one of {known}"
        )
    state = select_prefix(state, prefix, origin)
    target, ignored = encoder, []
    if source in formats:
        converted: ConvertedState = formats[source](state, origin=origin)
        state, ignored = converted.state, converted.ignored
    elif source == "classifier":
        layout: ClassifierLayout | None = getattr(encoder, "classifier_layout", None)
        if layout is None:
            raise WeightsError(
                f"{type(encoder).__name__} does not truncate a classifier: load {origin} with source 'encoder'"
            )
        target = encoder.get_submodule(layout.module)
        ignored = [k for k in state if k.startswith(layout.head)]
        state = classifier_to_backbone(state, layout, target.state_dict())
    optional: tuple[str, ...] = getattr(target, "optional_weight_prefixes", ())
    if optional:  # keys a file may have or not either way (VGGish's PCA: its own guard refuses it unloaded)
        expected = target.state_dict()
        state = {k: v for k, v in state.items() if k in expected or not k.startswith(optional)}
        state.update({k: v for k, v in expected.items() if k.startswith(optional) and k not in state})
    report = load_state(target, state, origin, strict)
    report.ignored = ignored
    return report
