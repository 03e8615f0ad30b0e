"""PreViTS task (Chen et al., arXiv 2112.00804) on video MoCo: the loss is MoCo's InfoNCE (a per-sample loop)
plus 3 × the cosine distance between the query's Grad-CAM map — the gradient of the positive logit q·k⁺ —
and the tracked region (a loop); weight 0 is video_moco's loss; the term trains the encoder through the
gradient map (a few steps on it alone lower it); errors name the fix; the recipe trains on real encoded clips
with the tracker and the constrained crops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from avssl.config import from_dict
from avssl.losses.mcl import grad_cam, motion_target
from avssl.tasks.av_contrastive import pool_map
from avssl.tasks.previts import PreViTS, PreViTSConfig
from tests.losses.test_previts import naive_attention
from tests.tasks.test_video_moco import naive_moco_loss, run_toy_recipe, train_extra_term
from tests.transforms.test_background import synthetic_clips

TINY = {"encoder": {"name": "small_3d"}, "embed_dim": 8, "hidden_dim": 16, "queue_size": 12}


def _task(**overrides) -> PreViTS:
    torch.manual_seed(0)
    return PreViTS(from_dict(PreViTSConfig, {**TINY, **overrides}))


def _batch() -> dict:
    clips, _ = synthetic_clips(n=4, size=32, frames=4)
    mask = torch.zeros(4, 4, 32, 32)
    mask[:, :, 6:22, 8:26] = 1.0
    mask[3] = 0.0  # one clip without a tracked object
    views = [{"video": clips, "track_mask": mask}, {"video": clips.flip(2), "track_mask": mask}]
    return {"views": views, "video": clips}


def test_loss_is_moco_plus_three_times_the_attention_term() -> None:
    task = _task().eval()  # BatchNorm with fixed statistics: the reference and the task see the same maps
    batch = _batch()
    queue = task.queue.keys.clone()
    features = task.encoder(batch["views"][0]["video"])
    q = F.normalize(task.head(pool_map(features)), dim=1)
    with torch.no_grad():
        k = F.normalize(task.key_head(pool_map(task.key_encoder(batch["views"][1]["video"]))), dim=1)
    (grad,) = torch.autograd.grad((q * k).sum(), features)  # ∂ Σ_b q_b·k_b / ∂F
    cam = grad_cam(features.detach(), grad)
    target = motion_target(batch["views"][0]["track_mask"], tuple(cam.shape[1:]))
    attention, count = naive_attention(cam.double(), target.double())
    expected = naive_moco_loss(q.detach().double(), k.double(), queue.double(), 0.2) + 3.0 * attention
    out = task(batch)
    assert count == 3 and out.logs["attention/tracked"].item() == 3
    assert out.logs["loss/attention"].item() == pytest.approx(attention, rel=1e-4, abs=1e-6)
    assert out.loss.item() == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_weight_zero_is_video_moco_and_needs_no_track() -> None:
    batch = _batch()
    off = _task(attention_weight=0.0).eval()
    queue = off.queue.keys.clone()
    with torch.no_grad():
        q = off.head(pool_map(off.encoder(batch["views"][0]["video"]))).double()
        k = off.key_head(pool_map(off.key_encoder(batch["views"][1]["video"]))).double()
    out = off({"views": [{"video": v["video"]} for v in batch["views"]]})
    assert "loss/attention" not in out.logs
    assert out.loss.item() == pytest.approx(naive_moco_loss(q, k, queue.double(), 0.2), rel=1e-4, abs=1e-6)


def test_the_attention_term_trains_the_encoder_through_the_gradient_map() -> None:
    # a sharp term: its gradient norm is ~85 on this batch, so small steps
    terms = train_extra_term(_task(queue_size=4).train(), _batch(), "loss/attention", lr=3e-5)
    assert terms[-1] < terms[0], terms


def test_errors_name_the_fix() -> None:
    batch = _batch()
    with pytest.raises(ValueError, match="track_crop"):
        _task()({"views": [{"video": v["video"]} for v in batch["views"]]})
    with pytest.raises(ValueError, match="two clips"):
        _task()({"video": batch["video"]})
    with pytest.raises(ValueError, match="attention_weight"):
        _task(attention_weight=-1.0)


def test_recipe_trains_on_real_clips(tmp_path: Path) -> None:
    cfg, rows = run_toy_recipe("previts", tmp_path)
    assert cfg["task"] == "previts" and cfg["model"]["attention_weight"] == 3.0
    assert [t["name"] for t in cfg["data"]["transforms"]][:2] == ["object_track", "track_crop"]
    assert [r["step"] for r in rows] == [1, 2]
    assert all({"loss/moco", "loss/attention", "attention/tracked"} <= set(r) for r in rows)
    assert all(r["attention/tracked"] > 0 for r in rows)  # the tracker found the synthetic objects
    report = json.loads((tmp_path / "eval.json").read_text())
    assert {"action", "clip_pairs", "attention"} <= set(report)
    assert 0.0 <= report["attention"]["iou"] <= 1.0
