"""`avssl` command line. Training runs through `recipes/` + `accelerate launch`; this serves the rest.

One module per command group, each registering its own sub-parsers: `data` (selfcheck, synth, check-data,
probe, decode), `evaluate` and `benchmarks` (embed, eval …), `inference` (localize, segment), `demo`,
`plot`; `app` builds the top parser and turns known bad-input errors into one line.
"""

from avssl.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
