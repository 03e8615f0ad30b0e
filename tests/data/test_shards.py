"""Tar shards: written from any layout, streamed back with every item read exactly once across
2 ranks × 2 workers, through the same loading code as folders."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from avssl.data.datasets import load_index
from avssl.data.datasets.base import BadItemTracker, ClipDataset, ClipSpec, collate, worker_init
from avssl.data.datasets.shards import ShardDataset, write_shards
from avssl.data.decoding import MediaError
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic

ROOT = Path(__file__).resolve().parents[2]
SPEC = ClipSpec(duration_s=1.0, fps=4, size=(32, 32), sampler="centre")


@pytest.fixture(scope="module")
def vgg(tmp_path_factory):
    root = tmp_path_factory.mktemp("vgg")
    write_synthetic("vggsound", root, SynthSpec(n=22, seed=5, size=64, duration_s=2.0))
    return root


def test_every_item_exactly_once_across_2_ranks_and_2_workers(vgg, tmp_path):
    index = load_index("vggsound", vgg)
    write_shards(index, tmp_path / "shards", items_per_shard=3)  # 8 shards, the last one short
    for epoch in (0, 1):
        seen = Counter()
        for rank in range(2):
            ds = ShardDataset(tmp_path / "shards", SPEC, mode="eval", seed=3, rank=rank, world_size=2)
            ds.set_epoch(epoch)
            loader = DataLoader(
                ds, batch_size=2, num_workers=2, collate_fn=collate, worker_init_fn=worker_init
            )
            for batch in loader:
                seen.update(m["id"] for m in batch["meta"])
                assert batch["video"].shape[1:] == (4, 3, 32, 32)
        assert seen == Counter(i.id for i in index.items)


def test_shard_samples_equal_folder_samples(vgg, tmp_path):
    index = load_index("vggsound", vgg)
    write_shards(index, tmp_path / "s", items_per_shard=5)
    from_folder = ClipDataset(index.items, SPEC, mode="eval", seed=1)
    streamed = {s["meta"]["id"]: s for s in ShardDataset(tmp_path / "s", SPEC, mode="eval", seed=1)}
    for k, item in enumerate(index.items):
        a, b = from_folder[k], streamed[item.id]
        assert torch.equal(a["video"], b["video"]) and torch.equal(a["audio"], b["audio"])
        assert a["label"] == b["label"] and a["index"] == b["index"]


@pytest.mark.parametrize("layout", ["flickr", "avsbench-s4"])
def test_still_and_frame_layouts_round_trip(tmp_path, layout):
    root = tmp_path / layout
    write_synthetic(layout, root, SynthSpec(n=4, seed=2, size=64, duration_s=2.0))
    index = load_index(layout, root, None)
    write_shards(index, tmp_path / "s", items_per_shard=2)
    spec = ClipSpec(duration_s=5.0 if layout.startswith("avs") else 1.0, size=(32, 32), sampler="centre")
    folder = ClipDataset(index.items, spec, mode="eval")
    streamed = {s["meta"]["id"]: s for s in ShardDataset(tmp_path / "s", spec, mode="eval")}
    for k, item in enumerate(index.items):
        a, b = folder[k], streamed[item.id]
        assert torch.equal(a["video"], b["video"]) and torch.equal(a["audio"], b["audio"])
        for key in ("boxes", "mask", "mask_valid"):
            assert (key in a) == (key in b) and (key not in a or torch.equal(a[key], b[key]))


def _repack_with_junk(shard: Path, victim_suffix: str) -> str:
    """Rewrite a shard with the first `victim_suffix` member's bytes replaced by junk; return its name."""
    members = []
    with tarfile.open(shard) as tar:
        for m in tar.getmembers():
            members.append((m.name, tar.extractfile(m).read()))
    victim = next(name for name, _ in members if name.endswith(victim_suffix))
    with tarfile.open(shard, "w") as tar:
        for name, data in members:
            data = b"junk" * 100 if name == victim else data
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return victim


def test_corrupt_member_is_skipped_and_counted_in_training(vgg, tmp_path):
    index = load_index("vggsound", vgg)
    write_shards(index, tmp_path / "s", items_per_shard=4)
    victim = _repack_with_junk(tmp_path / "s" / "shard-000001.tar", ".mp4")
    tracker = BadItemTracker(max_fraction=0.5, min_seen=1)
    sizes = []
    for batch in DataLoader(ShardDataset(tmp_path / "s", SPEC), batch_size=4, collate_fn=collate):
        tracker.update(batch)
        sizes.append(batch["video"].shape[0])
    assert tracker.seen == len(index.items) and len(tracker.bad) == 1
    # the bad entry is handed on with the next good sample: only the stream's last batch can be short
    assert sum(sizes) == len(index.items) - 1 and all(n == 4 for n in sizes[:-1])
    assert f"shard-000001.tar:{victim}" in tracker.bad[0].reason
    with pytest.raises(MediaError, match=victim):
        list(ShardDataset(tmp_path / "s", SPEC, mode="eval"))


def test_unreadable_items_are_left_out_of_shards_and_reported(vgg, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(vgg, broken)
    victim = sorted((broken / "video").glob("*.mp4"))[3]
    victim.write_bytes(b"junk")
    index = load_index("vggsound", broken)
    shards, problems = write_shards(index, tmp_path / "s", items_per_shard=4)
    assert len(problems) == 1 and str(victim) in problems[0]
    assert sum(1 for _ in ShardDataset(tmp_path / "s", SPEC, mode="eval")) == len(index.items) - 1


def test_make_shards_tool(vgg, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "make_shards.py"),
            "--layout",
            "vggsound",
            "--root",
            str(vgg),
            "--split",
            "train",
            "--out",
            str(tmp_path / "o"),
            "--items-per-shard",
            "4",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "items into" in result.stdout and (tmp_path / "o" / "shard-000000.tar").is_file()
