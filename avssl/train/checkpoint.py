"""Checkpoints: `RUN/checkpoints/step_N/` holding the resume state in plain formats only
(`avssl.train.plain_state`: JSON + safetensors, never a pickle): `model`, `optimizer`, `scheduler`, `scaler`
(fp16 only) written by the main process — under DDP they are the same on every process — and `rng_R` (Python,
NumPy, torch and CUDA generators) by every process R, plus `train_state.json` (step, epoch, data position,
counters). Accelerate's own `save_state` is not used: it pickles the scheduler, RNG states and custom
objects, and its `load_state` unpickles them (`weights_only=False`), which would let a run directory
from someone else execute code.

Written atomically: everything goes to `checkpoints/.tmp_step_N/`, and only when all processes have
finished writing does the main process rename it to `step_N` — a run killed while saving leaves the
previous checkpoints intact and never a half-written `step_N`. The last `keep` checkpoints are kept.
Finding them again (`list_checkpoints`, `latest_checkpoint`) is `avssl.rundir`'s, shared with inference.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator

from avssl.rundir import TRAIN_STATE, list_checkpoints
from avssl.train.plain_state import read_state, write_state


def rng_state() -> dict:
    """This process's generators: Python, NumPy, torch (CPU) and every CUDA device's."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _stateful(accelerator: Accelerator, objects: dict[str, Any]) -> dict[str, Any]:
    """The objects whose `state_dict` a checkpoint keeps: `objects` (model unwrapped) + the fp16 scaler."""
    found = {k: accelerator.unwrap_model(v) if k == "model" else v for k, v in objects.items()}
    if accelerator.scaler is not None:
        found["scaler"] = accelerator.scaler
    return found


def save_checkpoint(
    accelerator: Accelerator,
    objects: dict[str, Any],
    output_dir: str | Path,
    step: int,
    train_state: dict,
    keep: int,
) -> Path:
    """Save on every process (collective), publish atomically from the main process, prune old ones.
    `objects`: name → object with `state_dict`/`load_state_dict` (model, optimizer, scheduler)."""
    root = Path(output_dir) / "checkpoints"
    final, tmp = root / f"step_{step}", root / f".tmp_step_{step}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for name, obj in _stateful(accelerator, objects).items():
            write_state(tmp, name, obj.state_dict())
    write_state(tmp, f"rng_{accelerator.process_index}", rng_state())
    if accelerator.is_main_process:
        (tmp / TRAIN_STATE).write_text(json.dumps(train_state))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for _, old in list_checkpoints(output_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Accelerator, objects: dict[str, Any], path: str | Path) -> dict:
    """Restore `objects` (as given to `save_checkpoint`) and this process's RNG states from `path`; return
    its train_state. Nothing is unpickled."""
    path = Path(path)
    written_by = len(list(path.glob("rng_*.json")))
    if written_by != accelerator.num_processes:
        raise SystemExit(
            f"{path} was written by {written_by} process(es), not by this run's "
            f"{accelerator.num_processes}: resume it with the world size it was started with"
        )
    for name, obj in _stateful(accelerator, objects).items():
        state = read_state(path, name)
        if name == "model":
            obj.load_state_dict(state, strict=True)
        else:
            obj.load_state_dict(state)
    set_rng_state(read_state(path, f"rng_{accelerator.process_index}"))
    return json.loads((path / TRAIN_STATE).read_text())


def export_model(model, output_dir: str | Path) -> Path:
    """Write the final weights as `RUN/model/model.safetensors` next to a copy of the run's config.yaml
    (atomically: temp dir + rename). `avssl` commands load a run from here."""
    from safetensors.torch import save_file

    out, tmp = Path(output_dir) / "model", Path(output_dir) / ".tmp_model"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"))
    config = Path(output_dir) / "config.yaml"
    if config.is_file():
        shutil.copy(config, tmp / "config.yaml")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
