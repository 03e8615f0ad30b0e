"""`avssl import-checkpoint KIND FILE --out RUN`: an author-released checkpoint as an avssl run."""

from __future__ import annotations

import argparse

from avssl.cli.common import add_command


def _cmd_import(args: argparse.Namespace) -> int:
    from avssl.published.importer import import_checkpoint

    companions = {name: getattr(args, name) for name in _companions()}  # the kind's check: the importer's
    report = import_checkpoint(args.kind, args.file, args.out, companions)
    print(
        f"{args.file}: {args.kind} imported into {report.run} ({report.mapped} tensors, {report.ignored} "
        f"unused; sha256 {report.sha256[:16]}…); see {report.run}/SOURCE.md"
    )
    return 0


def _companions() -> dict[str, list[str]]:
    """Companion file name → (its help, the kinds that take it), over all published kinds."""
    from avssl.published import PUBLISHED

    out: dict[str, list[str]] = {}
    for kind, published in sorted(PUBLISHED.items()):
        for name, companion in published.companions.items():
            out.setdefault(name, [companion.help]).append(kind)
    return out


def add_import(sub: argparse._SubParsersAction) -> None:
    from avssl.published import PUBLISHED

    cmd = add_command(
        sub, "import-checkpoint", "an author-released checkpoint as a run (LVS, EZ-VSL, SSL-TIE, …)"
    )
    cmd.add_argument("kind", choices=sorted(PUBLISHED), help="which published model the file holds")
    cmd.add_argument("file", help="the released .pth / .pt / .pth.tar file, as downloaded")
    cmd.add_argument("--out", required=True, help="the run directory to create (must not exist)")
    for name, (text, *kinds) in _companions().items():
        required = all(PUBLISHED[kind].companions[name].required for kind in kinds)
        need = "required by" if required else "optional for"
        cmd.add_argument(
            "--" + name.replace("_", "-"), metavar="FILE", help=f"{text} ({need} {', '.join(kinds)})"
        )
    cmd.set_defaults(func=_cmd_import)


COMMANDS = {"import-checkpoint": add_import}
