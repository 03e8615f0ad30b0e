"""A recipe's command line: `[--config FILE] key=value …` → the task it asks for and its validated config."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from avssl.config import ConfigError, load_config, read_yaml
from avssl.data.annotations import AnnotationError
from avssl.encoders.weights import WeightsError
from avssl.runner.data_facts import derive_data_facts


def recipe_arguments(argv: Sequence[str] | None) -> tuple[str | None, list[str]]:
    """`[--config FILE] key=value …` → (config file or None, overrides)."""
    parser = argparse.ArgumentParser(description="avssl recipe")
    parser.add_argument("--config", default=None, help="YAML file mirroring the recipe config")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.max_steps=100")
    args = parser.parse_args(list(argv) if argv is not None else None)
    return args.config, args.overrides


def task_from_args(config_file: str | None, overrides: Sequence[str], default: str) -> str:
    """The task a recipe command line asks for: a `task=` override, else the YAML's `task`, else `default`."""
    for item in overrides:
        if item.startswith("task="):
            return item.split("=", 1)[1]
    return str(read_yaml(config_file).get("task", default)) if config_file else default


def parse_recipe(argv: Sequence[str] | None, default_task: str, schema_of) -> object:
    """The validated recipe config of the command line: `schema_of(task)` is the task's recipe schema;
    schema defaults ← YAML ← `key=value` overrides, then the data's facts derived into the model config
    (`avssl.runner.data_facts`)."""
    config_file, overrides = recipe_arguments(argv)
    schema = schema_of(task_from_args(config_file, overrides, default_task))
    return derive_data_facts(load_config(schema, config_file, overrides))


def script_main(main: Callable[[Sequence[str]], object], argv: Sequence[str]) -> int:
    """A recipe script's `__main__`: `main(argv)`, exit 0; a config error (unknown key, bad value, missing
    config file or data root, a weights file that does not fit its encoder) is one line on stderr and exit 2,
    as `avssl` commands do (`AVSSL_DEBUG=1`: the traceback)."""
    if os.environ.get("AVSSL_DEBUG"):
        main(argv)
        return 0
    try:
        main(argv)
    except (ConfigError, AnnotationError, FileNotFoundError, WeightsError) as err:
        print(f"{Path(sys.argv[0]).name}: error: {err}", file=sys.stderr)
        return 2
    return 0
