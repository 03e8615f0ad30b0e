"""Checkpoints: `RUN/checkpoints/step_N/` holding Accelerate's state (model, optimizer, scheduler, scaler,
every process's RNG states) plus `train_state.json` (step, epoch, data position, counters).

Written atomically: everything goes to `checkpoints/.tmp_step_N/`, and only when all processes have
finished writing does the main process rename it to `step_N` — a run killed while saving leaves the
previous checkpoints intact and never a half-written `step_N`. The last `keep` checkpoints are kept.
Finding them again (`list_checkpoints`, `latest_checkpoint`) is `avssl.rundir`'s, shared with inference.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from accelerate import Accelerator

from avssl.rundir import TRAIN_STATE, list_checkpoints


def save_checkpoint(
    accelerator: Accelerator, output_dir: str | Path, step: int, train_state: dict, keep: int
) -> Path:
    """Save on every process (collective), publish atomically from the main process, prune old ones."""
    root = Path(output_dir) / "checkpoints"
    final, tmp = root / f"step_{step}", root / f".tmp_step_{step}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
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


def load_checkpoint(accelerator: Accelerator, path: str | Path) -> dict:
    """Restore Accelerate's state from `path` and return its train_state."""
    accelerator.load_state(str(path))
    return json.loads((Path(path) / TRAIN_STATE).read_text())


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
