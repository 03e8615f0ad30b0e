"""The documentation stands alone: README.md and docs/*.md never point outside the repository, every
relative link resolves to a file of the repository, and every `avssl <command>` the README names exists in
the CLI parser."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OUTSIDE = ("../", "shared/")
# [text](target) and ![alt](target); the target ends at whitespace or ')'. Multi-line alt texts allowed.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)[^)]*\)")
# `avssl` as the program of a command line: at the start of a code span or line, or after a path (.venv/bin/);
# not `ruff check avssl tests`, where it is an argument.
COMMAND = re.compile(r"(?:^|[`/])avssl ([a-z][a-z0-9-]*(?: [a-z][a-z0-9-]*)?)", re.MULTILINE)
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)


def links(text: str) -> list[str]:
    """Every link target of a markdown text."""
    return LINK.findall(text)


def outside_references(text: str) -> list[str]:
    """Lines of `text` holding a path that leaves the repository ('../', 'shared/')."""
    return [line for line in text.splitlines() if any(marker in line for marker in OUTSIDE)]


def broken_links(doc: Path) -> list[str]:
    """Relative link targets of `doc` that are not files or folders inside the repository."""
    broken = []
    for target in links(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor of the same page
        path = (doc.parent / target.split("#")[0]).resolve()
        if not path.exists() or not path.is_relative_to(ROOT):
            broken.append(target)
    return broken


def cli_commands() -> dict[str, set[str]]:
    """{command: its sub-commands} of the `avssl` parser (an empty set for a command without any)."""
    from avssl.cli import build_parser

    def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    return {name: set(choices(sub)) for name, sub in choices(build_parser()).items()}


def command_mentions(text: str) -> list[str]:
    """`avssl X` or `avssl X Y` as written in the code of a markdown text."""
    return [mention for code in CODE.findall(text) for mention in COMMAND.findall(code)]


def unknown_commands(text: str, commands: dict[str, set[str]]) -> list[str]:
    """`avssl X` / `avssl X Y` mentions in the code of `text` (fenced blocks and `inline` spans; prose such as
    "avssl is a framework" is not a command) whose command or sub-command the parser lacks."""
    unknown = []
    for mention in command_mentions(text):
        words = mention.split()
        if words[0] not in commands:
            unknown.append(mention)
        elif commands[words[0]] and len(words) > 1 and words[1] not in commands[words[0]]:
            unknown.append(mention)
    return unknown


def test_docs_exist():
    assert (ROOT / "README.md").is_file()
    assert {"architecture.md", "evaluation.md", "methods.md"} <= {doc.name for doc in DOCS}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_reference_outside_the_repository(doc):
    assert outside_references(doc.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    assert broken_links(doc) == []


def test_readme_commands_exist_in_the_cli():
    commands = cli_commands()
    assert {"demo", "eval"} <= set(commands)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(command_mentions(text)) > 10, "the README's commands were not found"
    assert unknown_commands(text, commands) == []


def test_checks_catch_what_they_are_for(tmp_path):
    """The helpers flag an outside link, a missing file and an unknown command (so the tests can fail)."""
    text = "See [design](../shared/DESIGN.md) and [methods](docs/nothing.md).\nRun `avssl fly` or `avssl eval x`.\n"
    text += "avssl is prose.\n```bash\n.venv/bin/avssl walk --fast\nruff check avssl tests\n```\n"
    assert outside_references(text) == ["See [design](../shared/DESIGN.md) and [methods](docs/nothing.md)."]
    doc = tmp_path / "page.md"
    doc.write_text(text)
    assert broken_links(doc) == ["../shared/DESIGN.md", "docs/nothing.md"]
    assert unknown_commands(text, {"eval": {"retrieval"}, "demo": set()}) == ["fly", "eval x", "walk"]
    assert command_lines(text) == [["walk", "--fast"]]
    known = {"eval": {"retrieval"}, "demo": set()}
    assert unknown_commands("`avssl eval retrieval --run r` and `avssl demo`", known) == []


def command_lines(text: str) -> list[list[str]]:
    """The arguments of every `avssl …` line of the bash blocks of a markdown text (comments dropped,
    backslash continuations joined)."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            code = line.split(" #")[0].strip()
            if re.match(r"^(\S*/)?avssl ", code):
                lines.append(shlex.split(code.split("avssl ", 1)[1]))
    return lines


def test_readme_command_lines_parse():
    """Every `avssl …` command line the README shows is accepted by the parser as written."""
    from avssl.cli import build_parser

    lines = command_lines((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(lines) > 10
    for args in lines:
        try:
            build_parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"the README's `avssl {' '.join(args)}` does not parse")
