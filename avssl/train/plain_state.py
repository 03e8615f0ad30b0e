"""Resume state in plain formats: a nested state (a `state_dict()`, an RNG state) is written as
`NAME.json` (its structure and every non-tensor value) plus `NAME.safetensors` (its tensors). Reading it
back never unpickles anything, so a run directory from someone else cannot execute code when resumed
(`torch.load(..., weights_only=False)`, which Accelerate's `load_state` uses, can).

JSON has no tuples, non-string keys or arrays; they are marked: `{"__tuple__": [...]}`,
`{"__items__": [[key, value], ...]}` (a dict whose keys are not all plain strings),
`{"__ndarray__": [...], "dtype": ...}` and `{"__tensor__": name}` (a tensor in the safetensors file).
Floats round-trip exactly (JSON keeps Python's shortest repr; NaN/inf as NaN/Infinity).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

_MARKERS = ("__tuple__", "__items__", "__ndarray__", "__tensor__")


def _plain_keys(obj: dict) -> bool:
    return all(isinstance(k, str) and k not in _MARKERS for k in obj)


def encode(obj: Any, tensors: dict[str, torch.Tensor], path: str = "s") -> Any:
    """`obj` as a JSON-able value; its tensors are moved (CPU copies) into `tensors` under unique names."""
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": path}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if isinstance(obj, dict):
        if _plain_keys(obj):
            return {k: encode(v, tensors, f"{path}.{k}") for k, v in obj.items()}
        return {
            "__items__": [
                [encode(k, tensors, f"{path}.k{i}"), encode(v, tensors, f"{path}.v{i}")]
                for i, (k, v) in enumerate(obj.items())
            ]
        }
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot keep a {type(obj).__name__} (at {path}) in a plain checkpoint")


def decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of `encode`."""
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__ndarray__" in obj:
        return np.array(obj["__ndarray__"], dtype=obj["dtype"])
    if "__tuple__" in obj:
        return tuple(decode(v, tensors) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {_hashable(decode(k, tensors)): decode(v, tensors) for k, v in obj["__items__"]}
    return {k: decode(v, tensors) for k, v in obj.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def write_state(directory: Path, name: str, state: Any) -> None:
    """`directory/name.json` (+ `name.safetensors` when the state holds tensors)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    structure = encode(state, tensors)
    if tensors:
        save_file(tensors, str(directory / f"{name}.safetensors"))
    tmp = directory / f"{name}.json.tmp"
    tmp.write_text(json.dumps(structure))
    os.replace(tmp, directory / f"{name}.json")


def read_state(directory: Path, name: str) -> Any:
    """What `write_state(directory, name, …)` wrote (tensors on the CPU)."""
    from safetensors.torch import load_file

    path = directory / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{directory} has no {name}.json: not a checkpoint of this avssl version (older ones were "
            "Accelerate pickles, which are not loaded); start a new run or move this one aside"
        )
    tensors_file = directory / f"{name}.safetensors"
    tensors = load_file(str(tensors_file)) if tensors_file.is_file() else {}
    return decode(json.loads(path.read_text()), tensors)
