"""The top `avssl` parser and the entry point: every command group registers its own sub-parsers.

Every sub-command turns a known bad-input error (MediaError, AnnotationError, ConfigError, missing file)
into one readable line on stderr and a non-zero exit; `--debug` (before or after the sub-command) shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from avssl.cli import data, demo, evaluate, export, inference, plot
from avssl.cli.common import DEBUG_HELP, USER_ERRORS, check_out

COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    **demo.COMMANDS,
    **data.COMMANDS,
    **evaluate.COMMANDS,
    **inference.COMMANDS,
    **plot.COMMANDS,
    **export.COMMANDS,
}
# The order of `avssl --help`.
ORDER = (
    "demo",
    "selfcheck",
    "synth",
    "check-data",
    "embed",
    "eval",
    "segment",
    "localize",
    "probe",
    "decode",
    "plot",
    "export",
    "push",
)


def version() -> str:
    """The installed distribution's version, else the package's own (a source checkout on PYTHONPATH)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("avssl")
    except PackageNotFoundError:
        from avssl import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    """`avssl` with every sub-command."""
    parser = argparse.ArgumentParser(prog="avssl", description="Audio-visual self-supervised learning.")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("--version", action="version", version=f"avssl {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ORDER:
        COMMANDS[name](sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `avssl` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    if args.debug:
        check_out(args)
        return func(args)
    try:
        check_out(args)
        return func(args)
    except USER_ERRORS as err:
        print(f"avssl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"avssl {args.command}: interrupted", file=sys.stderr)
        return 130
