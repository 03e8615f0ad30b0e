"""A recipe's claim on its run directory: one run at a time, resumed only by the run that started it.

- **Lock**: `RUN/.lock` is created with O_EXCL by the main process and holds its pid and host; a second run
  into the same directory stops with one line. A lock whose process is gone (same host, pid not alive — a
  killed run) is stale and taken over; a lock from another host is never guessed stale (delete it by hand).
- **Identity**: `RUN/run.json` records what a resume must match — the resolved config (flattened to dotted
  keys) minus `RESUME_FREE_KEYS`, its SHA-256, and the world size (the data order and the per-process RNG
  states of a checkpoint are per rank, so exact resume needs the same number of processes). Rerunning with
  a different config stops with one line naming the keys that differ.
- **No silent restart**: `train.resume=false` on a directory that already holds checkpoints or a trained
  model stops (a run is never deleted or truncated for the user); on a directory without them it starts.

`RESUME_FREE_KEYS` may change between the first run and a resume: how long to train (`train.max_steps`: the
cosine schedule follows the new length from the resumed step on), logging and checkpoint cadence, trackers,
the process-group timeout,
loader workers (data order and content do not depend on them), the test-time input `data.eval_input`,
`train.resume` itself, `output_dir` (a moved
run) and everything under `eval` (evaluation does not change training).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from avssl import distributed
from avssl.config import to_dict

IDENTITY_FILE = "run.json"
LOCK_FILE = ".lock"
RESUME_FREE_KEYS = (
    "output_dir",
    "train.max_steps",
    "train.log_every",
    "train.progress_bar",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.trackers",
    "train.process_group_timeout_s",
    "train.resume",
    "data.num_workers",
    "data.eval_input",
    "eval",
)
_RUN_MARKERS = (
    "checkpoints/step_*",
    "model/model.safetensors",
    "stages/*/checkpoints/step_*",
    "stages/*/model",
)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts → {"a.b.c": leaf}; lists and scalars are leaves."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _free(key: str) -> bool:
    return any(key == free or key.startswith(free + ".") for free in RESUME_FREE_KEYS)


def identity(cfg: Any, world_size: int) -> dict:
    """What a resume of this run must match (see the module docstring)."""
    compared = {
        k: v for k, v in flatten(json.loads(json.dumps(to_dict(cfg), default=str))).items() if not _free(k)
    }
    digest = hashlib.sha256(json.dumps(compared, sort_keys=True).encode()).hexdigest()
    return {"config_hash": digest, "world_size": world_size, "config": compared}


def identity_mismatch(saved: dict, current: dict) -> str | None:
    """One line saying what differs between a run's saved identity and this command's, or None."""
    if (
        saved.get("config_hash") == current["config_hash"]
        and saved.get("world_size") == current["world_size"]
    ):
        return None
    old, new = saved.get("config", {}), current["config"]
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k, "<unset>") != new.get(k, "<unset>"))
    parts = [f"{k} ({old.get(k, '<unset>')!r} -> {new.get(k, '<unset>')!r})" for k in keys[:8]]
    if len(keys) > 8:
        parts.append(f"and {len(keys) - 8} more")
    if saved.get("world_size") != current["world_size"]:
        parts.append(f"world size ({saved.get('world_size')} -> {current['world_size']})")
    return "differs from the run it would resume: " + ", ".join(parts)


def holds_a_run(run: Path) -> bool:
    """True when `run` has a checkpoint or a trained model (a single run's or a stage's)."""
    return any(next(run.glob(pattern), None) is not None for pattern in _RUN_MARKERS)


def _lock_holder(path: Path) -> dict | None:
    """The live holder of a lock file, or None when the lock is stale (its process is gone)."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):  # being written right now, or garbage left by a crash
        return None if time.time() - path.stat().st_mtime > 30 else {"pid": "?", "host": "?"}
    if holder.get("host") != socket.gethostname():
        return holder
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return None
    except (PermissionError, KeyError, ValueError, TypeError):
        return holder
    return holder


def acquire_lock(run: Path) -> str | None:
    """Create `run/.lock` for this process; None on success, else the one-line reason."""
    run.mkdir(parents=True, exist_ok=True)
    path = run / LOCK_FILE
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(path)
            if holder is None:
                path.unlink(missing_ok=True)
                continue
            return (
                f"{run} is in use by process {holder.get('pid')} on {holder.get('host')} (lock file {path}); "
                "wait for it, choose another output_dir, or delete the lock if that process is gone"
            )
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}))
        return None
    return f"could not take the lock {path}"


def release_lock(run: Path) -> None:
    """Remove `run/.lock` if this process holds it."""
    path = run / LOCK_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _refusal(cfg: Any, run: Path, world_size: int) -> str | None:
    """Rank 0: take the lock, check the identity and `train.resume`, record the identity of a new run."""
    problem = acquire_lock(run)
    if problem is not None:
        return problem
    current, saved_path = identity(cfg, world_size), run / IDENTITY_FILE
    if not cfg.train.resume and holds_a_run(run):
        problem = (
            f"{run} already holds a run and train.resume=false would restart it: choose another output_dir "
            "or remove that run yourself (nothing is deleted for you)"
        )
    elif saved_path.is_file():
        mismatch = identity_mismatch(json.loads(saved_path.read_text()), current)
        problem = f"{run}: this config {mismatch}" if mismatch and cfg.train.resume else None
    if problem is None and (not saved_path.is_file() or not cfg.train.resume):
        tmp = saved_path.with_name(IDENTITY_FILE + ".tmp")
        tmp.write_text(json.dumps(current, indent=1, default=str))
        os.replace(tmp, saved_path)
    if problem is not None:
        release_lock(run)
    return problem


def claim_run_dir(cfg: Any, run: Path) -> None:
    """Lock `run` and check this command may (re)start it; every process raises SystemExit with the same
    one line when not. Release with `release_lock(run)` on the main process."""
    problem = _refusal(cfg, run, distributed.world_size()) if distributed.rank() == 0 else None
    problem = distributed.broadcast_object(problem)
    if problem is not None:
        raise SystemExit(problem)
