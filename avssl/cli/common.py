"""What several command groups share: adding a sub-command (with `--debug` accepted after it), the
errors reported as one line, the `--device` flag, loading a run's task for a method, and writing a JSON
result (atomically)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from avssl.config import ConfigError
from avssl.data.annotations import AnnotationError
from avssl.data.decoding import MediaError
from avssl.device import DEVICE_CHOICES, resolve_device
from avssl.outputs import write_json as write_json_atomic
from avssl.published.base import CheckpointError

USER_ERRORS = (MediaError, AnnotationError, ConfigError, FileNotFoundError, CheckpointError)
# What each command's --out names: a directory it fills, or a file it writes (others take either).
OUT_KINDS = {
    "synth": "directory",
    "selfcheck": "directory",
    "demo": "directory",
    "localize": "directory",
    "segment": "directory",
    "import-checkpoint": "directory",
    "embed": "file",
    "plot": "file",
    "export": "file",
    "eval retrieval": "file",
    "eval probe": "file",
    "eval action": "file",
    "eval video-retrieval": "file",
    "eval dense-probe": "file",
    "eval voc-classification": "file",
    "eval segments": "file",
}
DEBUG_HELP = "show tracebacks instead of one-line errors"
DEVICE_HELP = "where the model runs: auto = cuda if available, else mps if available, else cpu"


def add_command(sub: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    """A sub-parser `name` (`summary`: its line in the parent's help) that also takes `--debug` after the
    sub-command (`avssl localize x.mp4 --debug`). Its default is suppressed, so it never resets a `--debug`
    given before the sub-command."""
    parser = sub.add_parser(name, help=summary)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def add_device(parser: argparse.ArgumentParser) -> None:
    """`--device {auto,cpu,cuda,mps}` (default auto), read back with :func:`device_of`."""
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=DEVICE_HELP)


def device_of(args: argparse.Namespace) -> torch.device:
    """The device `--device` names (ConfigError, one line, when that accelerator is absent)."""
    try:
        return resolve_device(getattr(args, "device", "auto"))
    except ValueError as err:
        raise ConfigError(str(err)) from None


def load_task_with(run: str, method: str, device: str | torch.device = "cpu"):
    """(task on `device`, config) of a run directory whose task has `method` (localize / segment), else
    ConfigError."""
    from avssl.inference.load import load_run
    from avssl.tasks.base import capabilities

    task, config = load_run(run, device)
    if not getattr(capabilities(task), method):
        raise ConfigError(f"{run}: the {config.get('task')} task has no {method} method")
    return task, config


def write_json(path: str | Path, data: dict) -> None:
    """`data` as indented JSON at `path` (parents created), atomically."""
    write_json_atomic(path, data)


def check_out(args: argparse.Namespace) -> None:
    """A ConfigError (one line) when `--out` cannot be what the command writes: an existing file where a
    directory goes, a directory where a file goes, or a path under an existing file."""
    out = getattr(args, "out", None)
    if out is None:
        return
    path = Path(out)
    kind = OUT_KINDS.get(" ".join(filter(None, [args.command, getattr(args, "protocol", None)])))
    if kind == "directory" and path.exists() and not path.is_dir():
        raise ConfigError(f"--out {out} is an existing file; give a directory")
    if kind == "file" and path.is_dir():
        raise ConfigError(f"--out {out} is a directory; give a file name")
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ConfigError(f"--out {out}: {blocker} is a file, not a directory")


def check_positive(args: argparse.Namespace, *names: str) -> None:
    """A ConfigError (one line) naming the first option of `names` that is set but not > 0 (NaN too)."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None and not value > 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be greater than 0, got {value}")
