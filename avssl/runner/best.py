"""Keep a run's best model by a held-out criterion (`eval.keep_best`, see `avssl.runner.keep_best.KeepBest`).

After each evaluation during training (and the final one) the runner calls :func:`update_best`: when the
named metric improves on RUN/best/best.json, the model is exported to RUN/best/ — config.yaml, model/ and
best.json ({"metric", "mode", "step", "value", "history"}) — built in a temporary folder and swapped in, so
RUN/best always holds a whole, loadable run (`avssl eval … --run RUN/best`, `avssl localize --run RUN/best`).
A resumed run reads best.json and keeps comparing against it.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from torch import nn

from avssl.config import ConfigError
from avssl.outputs import write_json
from avssl.train.checkpoint import export_model

BEST = "best"


def metric_value(metrics: dict, key: str) -> float:
    """The number at dotted `key` in `metrics` (a key with dots of its own, like "R@1", may also be whole);
    ConfigError listing the keys that are there when it is not a number."""
    node: Any = metrics
    parts = key.split(".")
    i = 0
    while i < len(parts):
        for j in range(len(parts), i, -1):  # the longest prefix that is a key at this level
            name = ".".join(parts[i:j])
            if isinstance(node, dict) and name in node:
                node, i = node[name], j
                break
        else:
            node = None
            break
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise ConfigError(
            f"eval.keep_best: {key!r} is not a number in the evaluation; it has {_keys(metrics)}"
        )
    return float(node)


def _keys(metrics: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in metrics.items():
        if isinstance(v, dict):
            out += _keys(v, f"{prefix}{k}.")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(prefix + k)
    return out


def read_best(run_dir: Path) -> dict | None:
    """RUN/best/best.json, or None before the first kept model."""
    path = Path(run_dir) / BEST / "best.json"
    return json.loads(path.read_text()) if path.is_file() else None


def update_best(task: nn.Module, cfg: Any, run_dir: Path, metrics: dict, step: int) -> bool:
    """Export `task` to RUN/best/ when `metrics` improve the `eval.keep_best` metric (see the module
    docstring); returns whether it did. No-op when keep_best is unset or `metrics` is empty (another rank)."""
    key = getattr(cfg.eval, "keep_best", None)
    if not key or not metrics:
        return False
    mode = cfg.eval.best_mode
    value = metric_value(metrics, key)
    run_dir = Path(run_dir)
    best = read_best(run_dir)
    history = (best or {}).get("history", []) + [{"step": step, "value": value}]
    better = (
        best is None
        or math.isnan(best["value"])
        or (value > best["value"] if mode == "max" else value < best["value"])
    )
    record = {"metric": key, "mode": mode, "step": step, "value": value}
    if not better:
        write_json(run_dir / BEST / "best.json", {**best, "history": history})
        return False
    tmp = run_dir / ".tmp_best"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    shutil.copy(run_dir / "config.yaml", tmp / "config.yaml")
    export_model(task, tmp)
    write_json(tmp / "best.json", {**record, "history": history})
    old = run_dir / ".old_best"
    shutil.rmtree(old, ignore_errors=True)
    if (run_dir / BEST).exists():
        (run_dir / BEST).rename(old)
    tmp.rename(run_dir / BEST)
    shutil.rmtree(old, ignore_errors=True)
    return True
