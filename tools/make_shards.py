"""Write any dataset avssl reads as WebDataset-compatible tar shards.

    python tools/make_shards.py --layout vggsound --root /data/vggsound --split train --out /data/vgg-shards \
        [--items-per-shard 256]

Then train from the shards with `data.layout=shards data.root=/data/vgg-shards` (or, once copied to a
store, a brace pattern / `pipe:` / http(s) source such as `data.root='pipe:curl -s https://host/shard-{000000..000009}.tar'`;
`data.shuffle_buffer=1000` shuffles items within the shards). The shards are written with
`webdataset.TarWriter`, so `webdataset.WebDataset` reads them as well. Shards are written atomically (temp
file + rename); the source files are only read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from avssl.data.datasets import INDEX_LOADERS, load_index
from avssl.data.datasets.shards import write_shards


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", required=True, choices=sorted(INDEX_LOADERS))
    parser.add_argument("--root", required=True)
    parser.add_argument("--split", default=None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--items-per-shard", type=int, default=256)
    args = parser.parse_args(argv)
    index = load_index(args.layout, args.root, args.split)
    for problem in index.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    shards, problems = write_shards(index, args.out, args.items_per_shard)
    for problem in problems:
        print(f"left out (unreadable): {problem}", file=sys.stderr)
    written = len(index.items) - len(problems)
    print(f"wrote {written} items into {len(shards)} shards in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
