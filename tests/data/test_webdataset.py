"""Shards with the `webdataset` library: it reads ours, we read its `TarWriter`'s; brace patterns and
`pipe:` sources; the shuffle buffer keeps every item exactly once; `avssl check-data --layout shards`."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import webdataset as wds
from torch.utils.data import DataLoader

from avssl.cli import main
from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipSpec, collate, worker_init
from avssl.data.datasets.shards import ShardDataset, shuffled, write_shards
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic

SPEC = ClipSpec(duration_s=1.0, fps=4, size=(32, 32), sampler="centre")


@pytest.fixture(scope="module")
def vgg(tmp_path_factory):
    root = tmp_path_factory.mktemp("vgg")
    write_synthetic("vggsound", root, SynthSpec(n=10, seed=4, size=64, duration_s=2.0))
    shards = root.parent / "vgg-shards"
    write_shards(load_index("vggsound", root), shards, items_per_shard=3)  # 4 shards
    return root, shards


def test_webdataset_reads_our_shards(vgg):
    root, shards = vgg
    index = load_index("vggsound", root)
    samples = list(wds.WebDataset(str(shards / "shard-{000000..000003}.tar"), shardshuffle=False))
    assert [s["__key__"] for s in samples] == [f"{k:09d}" for k in range(len(index.items))]
    decoded = list(wds.WebDataset(str(shards / "shard-{000000..000003}.tar"), shardshuffle=False).decode())
    assert [d["json"]["id"] for d in decoded] == [i.id for i in index.items]
    assert all(s["mp4"] == open(i.path, "rb").read() for s, i in zip(samples, index.items))


def _their_shards(root, out):
    """Shards as another project writes them with webdataset.TarWriter: `mp4` + `cls`, no json."""
    index = load_index("vggsound", root)
    out.mkdir()
    for n, start in enumerate(range(0, len(index.items), 4)):
        with wds.TarWriter(str(out / f"data-{n:02d}.tar")) as sink:
            for item in index.items[start : start + 4]:
                sink.write(
                    {"__key__": f"clips/{item.id}", "mp4": open(item.path, "rb").read(), "cls": item.label}
                )
    return index, n + 1


def test_we_read_webdataset_tarwriter_shards_by_pattern_and_pipe(vgg, tmp_path):
    root, _ = vgg
    index, count = _their_shards(root, tmp_path / "theirs")
    pattern = str(tmp_path / "theirs" / f"data-{{00..{count - 1:02d}}}.tar")
    got = {s["meta"]["id"]: s for s in ShardDataset(pattern, SPEC, mode="eval")}
    assert sorted(got) == sorted(f"clips/{i.id}" for i in index.items)
    assert all(got[f"clips/{i.id}"]["label"] == i.label for i in index.items)
    assert got[f"clips/{index.items[0].id}"]["video"].shape == (4, 3, 32, 32)
    piped = "::".join(f"pipe:cat {tmp_path / 'theirs' / f'data-{n:02d}.tar'}" for n in range(count))
    assert sorted(s["meta"]["id"] for s in ShardDataset(piped, SPEC, mode="eval")) == sorted(got)


def test_missing_shard_of_a_pattern_is_named(tmp_path):
    from avssl.data.annotations import AnnotationError

    with wds.TarWriter(str(tmp_path / "shard-00.tar")) as sink:
        sink.write({"__key__": "a", "cls": 0})
    with pytest.raises(AnnotationError, match=r"shard-01\.tar: shard not found \(1 of 2"):
        ShardDataset(str(tmp_path / "shard-{00..01}.tar"), SPEC)


def test_shuffle_buffer_keeps_exactly_once_over_ranks_and_workers(vgg):
    root, shards = vgg
    ids = Counter(i.id for i in load_index("vggsound", root).items)
    orders = {}
    for buffer in (0, 4):
        seen, order = Counter(), []
        for rank in range(2):
            ds = ShardDataset(
                shards, SPEC, mode="eval", seed=1, rank=rank, world_size=2, shuffle_buffer=buffer
            )
            loader = DataLoader(
                ds, batch_size=2, num_workers=2, collate_fn=collate, worker_init_fn=worker_init
            )
            for batch in loader:
                seen.update(m["id"] for m in batch["meta"])
                order += [m["id"] for m in batch["meta"]]
        assert seen == ids
        orders[buffer] = order
    assert orders[0] != orders[4]


def test_shuffled_is_a_permutation_within_a_buffer():
    rng = np.random.default_rng(0)
    out = list(shuffled(range(100), 8, rng))
    assert sorted(out) == list(range(100)) and out != list(range(100))
    # an item leaves the buffer no earlier than buffer-size positions before its place in the stream
    assert all(position >= value - 8 for position, value in enumerate(out))
    assert list(shuffled(range(3), 8, rng)) != [] and sorted(shuffled(range(3), 8, rng)) == [0, 1, 2]


def test_check_data_on_shards(vgg, tmp_path, capsys):
    root, shards = vgg
    assert main(["check-data", str(shards), "--layout", "shards"]) == 0
    assert "10 items, no problems" in capsys.readouterr().out
    _, count = _their_shards(root, tmp_path / "theirs")
    bad = tmp_path / "theirs" / "data-00.tar"
    with wds.TarWriter(str(bad)) as sink:
        sink.write({"__key__": "broken", "mp4": b"junk" * 50, "cls": 0})
    pattern = str(tmp_path / "theirs" / f"data-{{00..{count - 1:02d}}}.tar")
    assert main(["check-data", pattern, "--layout", "shards"]) == 1
    out = capsys.readouterr().out
    assert "data-00.tar:broken.mp4" in out
