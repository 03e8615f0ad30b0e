"""`avssl demo`: the main job (train SSL-TIE, evaluate, localize) on embedded synthetic data."""

from __future__ import annotations

import argparse

from avssl.cli.common import add_command


def _cmd_demo(args: argparse.Namespace) -> int:
    from avssl.demo import run_demo

    return run_demo(args.out, steps=args.steps, quick=args.quick, seed=args.seed)


def add_demo(sub: argparse._SubParsersAction) -> None:
    demo = add_command(
        sub, "demo", "the main job on embedded synthetic data: train SSL-TIE, evaluate, localize"
    )
    demo.add_argument("--out", default="demo_out", help="output directory (created; existing files kept)")
    demo.add_argument("--steps", type=int, default=200, help="training steps")
    demo.add_argument("--quick", action="store_true", help="tiny data (for tests); numbers mean little")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_cmd_demo)


COMMANDS = {"demo": add_demo}
