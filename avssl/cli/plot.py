"""`avssl plot RUN… --out curves.png`: loss, lr and evaluation curves of training runs in one PNG."""

from __future__ import annotations

import argparse
import sys

from avssl.cli.common import add_command


def _cmd_plot(args: argparse.Namespace) -> int:
    from avssl.figures import plot_runs, run_series

    runs = [run_series(run) for run in args.runs]  # FileNotFoundError: one line, before drawing anything
    try:
        path = plot_runs(runs, args.out)
    except OSError as err:
        print(f"avssl plot: error: cannot write {args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({len(runs)} run{'s' if len(runs) != 1 else ''})")
    return 0


def add_plot(sub: argparse._SubParsersAction) -> None:
    plot = add_command(sub, "plot", "loss, lr and evaluation curves of training runs (one PNG)")
    plot.add_argument("runs", nargs="+", metavar="RUN", help="run directories (with metrics.jsonl)")
    plot.add_argument("--out", default="curves.png", help="PNG path (default: curves.png)")
    plot.set_defaults(func=_cmd_plot)


COMMANDS = {"plot": add_plot}
