"""The typed batch description covers every key a collated batch of real media has, with its shape."""

from __future__ import annotations

import numpy as np
import torch

from avssl.data.datasets.base import ClipDataset, ClipItem, ClipSpec, collate
from avssl.data.media_writer import write_video
from avssl.data.types import Batch
from avssl.transforms import build_transforms


def test_a_collated_batch_has_only_the_documented_keys(tmp_path) -> None:
    audio = (0.3 * np.sin(2 * np.pi * 330 * np.arange(48000 * 2) / 48000))[None].astype(np.float32)
    frames = [np.full((60, 80, 3), 4 * i, np.uint8) for i in range(50)]
    path = write_video(tmp_path / "clip.mp4", frames, 25, audio, 48000)
    items = [ClipItem(id=f"c{i}", path=str(path), label=i) for i in range(3)]
    spec = ClipSpec(duration_s=1.0, fps=4, size=(32, 32))
    dataset = ClipDataset(
        items, spec, build_transforms([{"name": "resize", "size": 32}, {"name": "normalize"}])
    )
    batch = collate([dataset[i] for i in range(3)])
    assert set(batch) <= set(Batch.__annotations__), set(batch) - set(Batch.__annotations__)
    assert batch["video"].dtype == torch.float32 and batch["video"].shape[:3] == (3, 3, 4)
    assert batch["audio"].ndim == 3 and batch["audio"].shape[0] == 3
    assert batch["index"].shape == (3,) and len(batch["meta"]) == 3
