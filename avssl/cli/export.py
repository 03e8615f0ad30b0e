"""`avssl export | push`: a trained run's encoder for other toolkits, a run shared through the Hugging Face Hub."""

from __future__ import annotations

import argparse

from avssl.cli.common import add_command
from avssl.config import ConfigError

RUN_HELP = "a run directory, its model/ folder, or hf-hub:ORG/NAME[@REVISION]"


def _cmd_export(args: argparse.Namespace) -> int:
    from avssl.export import ExportError, export_part

    try:
        notes = export_part(args.run, args.part, args.format, args.out)
    except ExportError as err:
        raise ConfigError(str(err)) from None
    print(f"{args.out}: the {args.part} encoder of {args.run} ({args.format})")
    for note in notes:
        print(f"  note: {note}")
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    from avssl.hub import hub_folder, push_run

    if args.local is not None:
        folder = hub_folder(args.run, args.local, args.repo)
        print(f"{folder}: the files `avssl push` uploads to {args.repo} (model card: README.md)")
        return 0
    url = push_run(args.run, args.repo, private=args.private)
    print(f"{args.repo}: pushed ({url}); load it with --run hf-hub:{args.repo}")
    return 0


def add_export(sub: argparse._SubParsersAction) -> None:
    from avssl.export import FORMATS, PART_MODULES

    export = add_command(sub, "export", "a trained encoder as a torchvision / timm / safetensors file")
    export.add_argument("--run", required=True, help=RUN_HELP)
    export.add_argument("--part", required=True, choices=list(PART_MODULES))
    export.add_argument("--format", required=True, choices=list(FORMATS))
    export.add_argument("--out", required=True, help="the file to write (.safetensors, else a torch file)")
    export.set_defaults(func=_cmd_export)


def add_push(sub: argparse._SubParsersAction) -> None:
    push = add_command(sub, "push", "share a finished run on the Hugging Face Hub, with a model card")
    push.add_argument("run", help="a finished run directory, or its model/ folder")
    push.add_argument("repo", help="the Hub repository, ORG/NAME")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument(
        "--local", metavar="DIR", help="write the files that would be uploaded into DIR instead (no network)"
    )
    push.set_defaults(func=_cmd_push)


COMMANDS = {"export": add_export, "push": add_push}
