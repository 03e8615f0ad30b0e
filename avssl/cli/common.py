"""What several command groups share: adding a sub-command (with `--debug` accepted after it), the
errors reported as one line, loading a run's task for a method, and writing a JSON result."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avssl.config import ConfigError
from avssl.data.annotations import AnnotationError
from avssl.data.decoding import MediaError

USER_ERRORS = (MediaError, AnnotationError, ConfigError, FileNotFoundError)
DEBUG_HELP = "show tracebacks instead of one-line errors"


def add_command(sub: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    """A sub-parser `name` (`summary`: its line in the parent's help) that also takes `--debug` after the
    sub-command (`avssl localize x.mp4 --debug`). Its default is suppressed, so it never resets a `--debug`
    given before the sub-command."""
    parser = sub.add_parser(name, help=summary)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def load_task_with(run: str, method: str):
    """(task, config) of a run directory whose task has `method` (localize / segment), else ConfigError."""
    from avssl.inference.load import load_run
    from avssl.tasks.base import capabilities

    task, config = load_run(run)
    if not getattr(capabilities(task), method):
        raise ConfigError(f"{run}: the {config.get('task')} task has no {method} method")
    return task, config


def write_json(path: str | Path, data: dict) -> None:
    """`data` as indented JSON at `path` (parents created)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=1))
