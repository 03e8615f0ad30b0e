"""MCL task (Li et al., ICCV 2021) on video MoCo: the loss is MoCo's InfoNCE (a per-sample loop) plus the
motion alignment of the query's Grad-CAM map with the clip's motion magnitude; the switches drop terms (all
off: video_moco's loss); the alignment's second-order gradient trains the encoder (a few steps on it alone
lower it); errors name the fix; the recipe trains on real encoded clips with frame differences and tubes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from avssl.config import from_dict
from avssl.losses.mcl import MotionAlignmentLoss, grad_cam, motion_target
from avssl.losses.moco import MoCoLoss
from avssl.tasks.av_contrastive import pool_map
from avssl.tasks.mcl import MCL, MCLConfig
from avssl.transforms.tubes import motion_magnitude
from tests.tasks.test_video_moco import naive_moco_loss, run_toy_recipe, train_extra_term
from tests.transforms.test_background import synthetic_clips

TINY = {
    "encoder": {"name": "small_3d"},
    "embed_dim": 8,
    "hidden_dim": 16,
    "queue_size": 12,
    "motion": "frame_difference",
}
ROOT = Path(__file__).resolve().parents[2]


def _task(**overrides) -> MCL:
    torch.manual_seed(0)
    return MCL(from_dict(MCLConfig, {**TINY, **overrides}))


def _batch() -> dict:
    clips, _ = synthetic_clips(n=4, size=32, frames=4)
    motion = clips[:, :, 1:] - clips[:, :, :-1]  # frame differences (B, 3, T - 1, H, W)
    views = [{"video": clips, "motion": motion}, {"video": clips.flip(2), "motion": motion.flip(2)}]
    return {"views": views, "video": clips}


def test_loss_is_moco_plus_the_alignment_of_the_query_gradient_map() -> None:
    task = _task(spatial_weight=0.5, temporal_weight=2.0, spatiotemporal_weight=1.0).eval()  # BN: fixed stats
    batch = _batch()
    queue = task.queue.keys.clone()
    features = task.encoder(batch["views"][0]["video"])
    q = F.normalize(task.head(pool_map(features)), dim=1)
    with torch.no_grad():
        k = F.normalize(task.key_head(pool_map(task.key_encoder(batch["views"][1]["video"]))), dim=1)
    nce = MoCoLoss(0.2)(q, k, queue)
    (grad,) = torch.autograd.grad(-nce, features)
    cam = grad_cam(features.detach(), grad)
    target = motion_target(
        motion_magnitude(batch["views"][0]["motion"], "frame_difference"), tuple(cam.shape[1:])
    )
    align, terms = MotionAlignmentLoss(0.5, 2.0, 1.0)(cam, target)
    expected = naive_moco_loss(q.detach().double(), k.double(), queue.double(), 0.2) + align.item()
    out = task(batch)
    assert out.loss.item() == pytest.approx(expected, rel=1e-4, abs=1e-6)
    for name, term in terms.items():
        assert out.logs[name].item() == pytest.approx(term.item(), rel=1e-4, abs=1e-7)
    assert out.logs["loss/align"].item() == pytest.approx(align.item(), rel=1e-4, abs=1e-7)


def test_switches_drop_terms_and_all_off_is_video_moco() -> None:
    batch = _batch()
    out = _task(temporal_weight=0.0).eval()(batch)
    assert {"align/spatial", "align/spatiotemporal"} <= set(out.logs) and "align/temporal" not in out.logs
    off = _task(spatial_weight=0.0, temporal_weight=0.0, spatiotemporal_weight=0.0).eval()
    queue = off.queue.keys.clone()
    with torch.no_grad():
        q = off.head(pool_map(off.encoder(batch["views"][0]["video"]))).double()
        k = off.key_head(pool_map(off.key_encoder(batch["views"][1]["video"]))).double()
    out = off({"views": [{"video": v["video"]} for v in batch["views"]]})  # no motion needed when off
    assert "loss/align" not in out.logs
    assert out.loss.item() == pytest.approx(naive_moco_loss(q, k, queue.double(), 0.2), rel=1e-4, abs=1e-6)


def test_the_alignment_trains_the_encoder_through_the_gradient_map() -> None:
    aligns = train_extra_term(_task(queue_size=4).train(), _batch(), "loss/align", lr=0.5)
    assert aligns[-1] < aligns[0], aligns


def test_errors_name_the_fix() -> None:
    batch = _batch()
    with pytest.raises(ValueError, match="frame_difference"):
        _task()({"views": [{"video": v["video"]} for v in batch["views"]]})
    with pytest.raises(ValueError, match="two clips"):
        _task()({"video": batch["video"]})
    with pytest.raises(ValueError, match="spatial_weight"):
        _task(spatial_weight=-1.0)


def test_recipe_trains_on_real_clips(tmp_path: Path) -> None:
    cfg, rows = run_toy_recipe("mcl", tmp_path)
    assert cfg["task"] == "mcl" and cfg["model"]["spatiotemporal_weight"] == 1.0
    assert any(t["name"] == "flow_tubes" for t in cfg["data"]["transforms"])
    assert [r["step"] for r in rows] == [1, 2]
    assert all(
        {"loss/moco", "loss/align", "align/spatial", "align/temporal", "align/spatiotemporal"} <= set(r)
        for r in rows
    )
    report = json.loads((tmp_path / "eval.json").read_text())
    assert {"action", "clip_pairs", "attention"} <= set(report)
    assert 0.0 <= report["attention"]["iou"] <= 1.0 and "iou_swapped" in report["attention"]


def test_flow_motion_gives_all_three_terms_and_three_channels_as_flow_is_an_error() -> None:
    batch = _batch()
    flow = torch.zeros(4, 2, 3, 32, 32)
    flow[:, 0, :, 8:16, 8:16] = 3.0  # dx = 3, dy = 4: length 5 in one block
    flow[:, 1, :, 8:16, 8:16] = 4.0
    views = [{**batch["views"][0], "motion": flow}, batch["views"][1]]
    out = _task(motion="flow").eval()({"views": views})
    assert {"align/spatial", "align/temporal", "align/spatiotemporal"} <= set(out.logs)
    with pytest.raises(ValueError, match="2 channels"):
        _task(motion="flow").eval()(batch)  # frame differences (3 channels) given as flow
