"""FAME task (Ding et al., CVPR 2022) on video MoCo: the key is the second clip's estimated foreground over
another video's static background, and the loss is MoCo's InfoNCE of clip 1's query against that fused
key (a per-sample loop) with the queue before the batch; config keys reach the merging; the recipe trains on
real encoded clips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from avssl.config import from_dict
from avssl.tasks.av_contrastive import pool_map
from avssl.tasks.fame import FAME, FAMEConfig
from avssl.transforms.background import derangement, foreground_masks, fuse
from tests.tasks.test_video_moco import naive_moco_loss, run_toy_recipe
from tests.transforms.test_background import synthetic_clips

TINY = {"encoder": {"name": "small_3d"}, "embed_dim": 8, "hidden_dim": 16, "queue_size": 12}
ROOT = Path(__file__).resolve().parents[2]


def _task(**overrides) -> FAME:
    torch.manual_seed(0)
    return FAME(from_dict(FAMEConfig, {**TINY, **overrides}))


def test_key_is_the_fused_second_clip_and_the_loss_is_moco_on_it() -> None:
    task = _task(foreground_ratio=0.2, mask_rule="difference").train()
    clips, _ = synthetic_clips(n=4, size=32, frames=4)
    views = [{"video": clips.flip(2)}, {"video": clips}]
    torch.manual_seed(7)
    donors = derangement(4)
    fused = fuse(clips, foreground_masks(clips, 0.2, "difference"), donors)
    queue = task.queue.keys.clone().double()
    with torch.no_grad():
        q = task.head(pool_map(task.encoder(views[0]["video"]))).double()
        k = task.key_head(pool_map(task.key_encoder(fused))).double()
    torch.manual_seed(7)  # the task draws the same derangement
    out = task({"views": views, "video": views[0]["video"]})
    assert out.loss.item() == pytest.approx(naive_moco_loss(q, k, queue, 0.2), rel=1e-4, abs=1e-5)
    torch.manual_seed(7)
    assert torch.equal(task.merge(clips), fused)


def test_config_keys_reach_the_merging_and_are_checked() -> None:
    clips, _ = synthetic_clips(n=3, size=32, frames=4)
    g = torch.Generator().manual_seed(0)
    fused = _task(foreground_ratio=0.5, mask_rule="difference", background_frame=0).merge(clips, g)
    masks = foreground_masks(clips, 0.5, "difference")
    assert torch.equal(fused, fuse(clips, masks, derangement(3, torch.Generator().manual_seed(0)), 0))
    with pytest.raises(ValueError, match="foreground_ratio"):
        _task(foreground_ratio=1.5)
    with pytest.raises(ValueError, match="two clips"):
        _task()({"video": clips})


def test_recipe_trains_on_real_clips(tmp_path: Path) -> None:
    cfg, rows = run_toy_recipe("fame", tmp_path)
    assert cfg["task"] == "fame" and cfg["model"]["foreground_ratio"] == 0.25
    assert [r["step"] for r in rows] == [1, 2] and all("loss/moco" in r for r in rows)
    assert {"action", "clip_pairs"} <= set(json.loads((tmp_path / "eval.json").read_text()))
