"""Walk an argparse tree into plain data: for every command path, its options, positionals, choices,
defaults and help. `python tests/cli/flag_tree.py` wrote tests/cli/flags_baseline.json from the single-file
CLI before it became a package; rerun it only to accept a deliberate change of the command line (it records
the current parser, intended additions included, so test_flags.py's additions must then be dropped)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BASELINE = Path(__file__).with_name("flags_baseline.json")


def _plain(value):
    """A JSON-stable form of a default or choice (callables and types by name)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)


def _action_record(action: argparse.Action) -> dict:
    return {
        "dest": action.dest,
        "nargs": _plain(action.nargs),
        "choices": sorted(_plain(list(action.choices))) if action.choices is not None else None,
        "default": _plain(action.default),
        "required": bool(action.required),
        "type": getattr(action.type, "__name__", None) if action.type is not None else None,
        "metavar": _plain(action.metavar),
        "action": type(action).__name__,
        "help": action.help,
    }


def flag_tree(parser: argparse.ArgumentParser, path: str = "") -> dict[str, dict]:
    """{command path ("" for the top, "eval localization", …): {"options": {flag: record},
    "positionals": {name: record}, "subcommands": {name: help}, …}}."""
    node: dict = {"prog": parser.prog, "description": parser.description}
    node.update({"options": {}, "positionals": {}, "subcommands": {}})
    tree = {path: node}
    for action in parser._actions:  # argparse has no public walk over its actions
        if isinstance(action, argparse._SubParsersAction):
            node["subcommands"] = {choice.dest: choice.help for choice in action._choices_actions}
            node["subcommand_order"] = [choice.dest for choice in action._choices_actions]
            node["subcommand_dest"] = action.dest
            node["subcommand_required"] = action.required
            for name, child in action.choices.items():
                tree.update(flag_tree(child, f"{path} {name}".strip()))
        elif action.option_strings:
            for flag in sorted(action.option_strings):
                node["options"][flag] = _action_record(action)
        else:
            node["positionals"][action.dest] = _action_record(action)
    return tree


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from avssl.cli import build_parser

    BASELINE.write_text(json.dumps(flag_tree(build_parser()), indent=1, sort_keys=True) + "\n")
    print(f"wrote {BASELINE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
