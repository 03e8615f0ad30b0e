"""`avssl import-checkpoint KIND FILE --out RUN`: an author-released checkpoint as an avssl run."""

from __future__ import annotations

import argparse

from avssl.cli.common import add_command


def _cmd_import(args: argparse.Namespace) -> int:
    from avssl.published.importer import import_checkpoint

    report = import_checkpoint(args.kind, args.file, args.out, {"ogl_weights": args.ogl_weights})
    print(
        f"{args.file}: {args.kind} imported into {report.run} ({report.mapped} tensors, {report.ignored} "
        f"unused; sha256 {report.sha256[:16]}…); see {report.run}/SOURCE.md"
    )
    return 0


def add_import(sub: argparse._SubParsersAction) -> None:
    from avssl.published import PUBLISHED

    cmd = add_command(
        sub, "import-checkpoint", "an author-released checkpoint as a run (LVS, EZ-VSL, SSL-TIE, …)"
    )
    cmd.add_argument("kind", choices=sorted(PUBLISHED), help="which published model the file holds")
    cmd.add_argument("file", help="the released .pth / .pt / .pth.tar file, as downloaded")
    cmd.add_argument("--out", required=True, help="the run directory to create (must not exist)")
    cmd.add_argument(
        "--ogl-weights",
        metavar="FILE",
        help="ezvsl: torchvision's ImageNet resnet18 file, for object-guided localization (OGL)",
    )
    cmd.set_defaults(func=_cmd_import)


COMMANDS = {"import-checkpoint": add_import}
