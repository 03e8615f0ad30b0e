"""The layout of a run directory that both sides read: training writes `checkpoints/step_N/` (with
`train_state.json` once complete), inference and evaluation look for the newest one. Kept below
`avssl.train` so that inference can find a run's weights without importing the training engine."""

from __future__ import annotations

import re
from pathlib import Path

_STEP_DIR = re.compile(r"^step_(\d+)$")
TRAIN_STATE = "train_state.json"


def list_checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and path.is_dir() and (path / TRAIN_STATE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None
