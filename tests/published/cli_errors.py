"""The one-line CLI error check shared by the import tests (imported with ``sys.path``)."""

from __future__ import annotations

from avssl.cli import main


def error_line(capsys, argv) -> str:
    """Run ``avssl argv``: it must exit 2 with exactly one line on stderr, which is returned."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err
