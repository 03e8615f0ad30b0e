"""Read an author-released ``.pth`` / ``.pt`` / ``.pth.tar`` file without running pickled code.

``torch.load(weights_only=True)`` unpickles only tensors and plain containers; a released training checkpoint
also pickles a few plain values, allow-listed here and nothing else (``SAFE_GLOBALS``): ``argparse.Namespace``
(the training arguments) and numpy scalars / arrays (a best score such as SSL-TIE's ``best_miou``). Both the
zip format and the legacy (PyTorch < 1.6) format are read.

The state dict is then found and flattened: nested under ``model_state_dict`` (LVS), ``state_dict`` (SSL-TIE),
``model`` (EZ-VSL) or similar keys; ``module.`` (DataParallel) and ``_orig_mod.`` (torch.compile) prefixes
stripped. What is set aside is reported, never silently dropped: momentum-encoder / EMA copies (a separate
entry such as ``model_ema``, or keys under ``encoder_k.`` / ``momentum_encoder.``), the optimizer and any other
entry of the file (epoch, scores, arguments). A file that is missing, truncated or corrupt, or that pickles
other code, is a :class:`~avssl.published.base.CheckpointError` naming it.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from avssl.encoders.weights import SAFE_GLOBALS
from avssl.published.base import CheckpointError

STATE_KEYS = ("model_state_dict", "state_dict", "model", "module", "net", "network", "weights")
MOMENTUM_ENTRIES = ("model_ema", "ema", "state_dict_ema", "ema_state_dict", "momentum", "model_momentum")
MOMENTUM_PREFIXES = ("encoder_k.", "momentum_encoder.", "model_ema.", "ema_model.", "key_encoder.")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass
class ReleasedFile:
    """A released file's flat state dict and what else it held.

    ``state``: name → tensor (wrapper prefixes stripped); ``container``: the path of nested keys it was found
    under ("" = the top level); ``momentum``: keys of momentum / EMA copies set aside; ``other``: the other
    entries of the file (``"optimizer"``, ``"epoch = 80"``, …), for the import report.
    """

    path: Path
    state: dict[str, Tensor]
    container: str = ""
    momentum: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)


def load_released(path: str | Path) -> object:
    """The unpickled content of a released file (tensors, containers and ``SAFE_GLOBALS`` only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        what = _unsupported_global(str(err))
        if what is not None:
            raise CheckpointError(
                f"{path}: the file pickles {what}, code that would have to run to read it; avssl reads only "
                "tensors and plain values (re-save the state dict alone with torch.save(model.state_dict()))"
            ) from None
        raise CheckpointError(
            f"{path}: not a torch checkpoint, or truncated or corrupt ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, AttributeError) as err:
        line = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({line})") from None


def _unsupported_global(message: str) -> str | None:
    """The ``module.name`` a weights-only load refused, or None (no such line, or a name cut short: the
    pickle stream itself is truncated)."""
    for line in message.splitlines():
        if "Unsupported global" in line:
            name = line.split("GLOBAL", 1)[-1].split(" was not", 1)[0].strip()
            return name if re.fullmatch(r"[\w.]+\.\w+", name) else None
    return None


def _describe(key: str, value: object) -> str:
    if isinstance(value, (int, float, str, bool)) or isinstance(value, np.generic):
        return f"{key} = {value}"
    return key


def read_released(path: str | Path) -> ReleasedFile:
    """Read ``path`` (see the module docstring) into a :class:`ReleasedFile`."""
    path = Path(path)
    raw = load_released(path)
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: holds a {type(raw).__name__}, not a state dict or a checkpoint dict")
    container, other, momentum = [], [], []
    while True:
        key = next((k for k in STATE_KEYS if isinstance(raw.get(k), dict)), None)
        if key is None:
            break
        for name, value in raw.items():
            if name in MOMENTUM_ENTRIES and isinstance(value, dict):
                momentum += [f"{name}.{k}" for k in value]
            elif name != key:
                other.append(_describe(name, value))
        container.append(key)
        raw = raw[key]
    state: dict[str, Tensor] = {}
    for name, value in raw.items():
        if not isinstance(value, Tensor):
            other.append(_describe(str(name), value))
            continue
        name = _strip(str(name))
        if name.startswith(MOMENTUM_PREFIXES):
            momentum.append(name)
        else:
            state[name] = value
    if not state:
        raise CheckpointError(f"{path}: no tensors found (entries: {', '.join(map(str, list(raw)[:8]))})")
    return ReleasedFile(path, state, ".".join(container), momentum, other)


def _strip(key: str) -> str:
    while key.startswith(WRAPPER_PREFIXES):
        key = next(key[len(p) :] for p in WRAPPER_PREFIXES if key.startswith(p))
    return key
