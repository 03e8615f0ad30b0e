"""ConST-CL (Yuan et al., CVPR 2022): the region InfoNCE against a per-instance loop (other videos' targets as
negatives, the own video's other instances masked), RoIAlign instance features, the random boxes' ranges, the
task's loss assembled from its parts (matching by cosine, both directions, the weights), and the recipe
training on real encoded clips with either term switched off."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from avssl.config import from_dict
from avssl.tasks.constcl import ConSTCL, ConSTCLConfig, instance_features, region_infonce, sample_boxes
from tests.tasks.test_cvrl import naive_cvrl_loss
from tests.tasks.test_video_moco import run_toy_recipe

TINY = {
    "encoder": {"name": "small_3d"},
    "embed_dim": 8,
    "hidden_dim": 16,
    "decoder_dim": 8,
    "decoder_heads": 2,
    "decoder_layers": 2,
    "num_boxes": 3,
}


def naive_region(pred, targets, match, tau: float) -> float:
    b, n, _ = pred.shape
    total = 0.0
    for v in range(b):
        for i in range(n):
            p = pred[v, i] / pred[v, i].norm()
            pos = targets[v, int(match[v, i])]
            s_pos = float(p @ pos / pos.norm()) / tau
            negatives = [
                float(p @ targets[u, j] / targets[u, j].norm()) / tau
                for u in range(b)
                if u != v
                for j in range(n)
            ]
            total -= s_pos - math.log(math.exp(s_pos) + sum(math.exp(s) for s in negatives))
    return total / (b * n)


def test_region_infonce_equals_the_loop() -> None:
    g = torch.Generator().manual_seed(0)
    pred, targets = torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    match = torch.randint(0, 4, (3, 4), generator=g)
    assert region_infonce(pred, targets, match, 0.2).item() == pytest.approx(
        naive_region(pred, targets, match, 0.2), rel=1e-5
    )


def test_boxes_and_instance_features() -> None:
    boxes = sample_boxes(200, 3, (0.1, 0.5), (0.5, 2.0), torch.Generator().manual_seed(1))
    w, h = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    assert boxes.shape == (3, 200, 4) and boxes.min() >= 0 and boxes.max() <= 0.999
    unclipped = (boxes[..., 2] < 0.999) & (boxes[..., 3] < 0.999)
    assert (w[unclipped] >= 0.1 - 1e-6).all() and (w[unclipped] <= 0.5 + 1e-6).all()
    ratio = h[unclipped] / w[unclipped]
    assert (ratio >= 0.5 - 1e-5).all() and (ratio <= 2.0 + 1e-5).all()
    # a map constant inside the box's cells: the instance feature is that constant
    maps = torch.zeros(2, 3, 8, 8)
    maps[1, :, 2:6, 4:8] = torch.tensor([1.0, 2.0, 3.0])[:, None, None]
    box = torch.tensor([[[5 / 8, 3 / 8, 7 / 8, 5 / 8]]]).expand(
        2, 1, 4
    )  # samples between cell centres x 4–7, y 2–5
    feats = instance_features(maps, box, 4)
    assert torch.allclose(feats[1, 0], torch.tensor([1.0, 2.0, 3.0]), atol=1e-5) and feats[0].abs().sum() == 0


def test_loss_is_assembled_from_its_parts() -> None:
    torch.manual_seed(0)
    task = ConSTCL(from_dict(ConSTCLConfig, {**TINY, "local_weight": 0.5, "holistic_weight": 0.7})).train()
    g = torch.Generator().manual_seed(2)
    views = [{"video": torch.randn(3, 3, 8, 32, 32, generator=g)} for _ in range(2)]
    boxes = sample_boxes(3, 6, (0.2, 0.6), (0.5, 2.0), torch.Generator().manual_seed(3))
    out = task({"views": views, "video": views[0]["video"]}, boxes=boxes)
    with torch.no_grad():
        maps = task.encoder(torch.cat([v["video"] for v in views]))
        holistic, _ = naive_cvrl_loss(task.head(maps.mean((2, 3, 4))).double(), 0.1)
        unit = F.normalize(maps, dim=1)
        inst = instance_features(unit[:, :, unit.shape[2] // 2], boxes, 4)
        ctx = task.context_tokens(unit)
        ia, ib, ca, cb = *inst.chunk(2), *ctx.chunk(2)

        def best(a, b, v, i):  # the other view's instance most similar to instance i of video v
            return max(range(3), key=lambda j: float(F.cosine_similarity(a[v, i], b[v, j], dim=0)))

        match_ab = torch.tensor([[best(ia, ib, v, i) for i in range(3)] for v in range(3)])
        match_ba = torch.tensor([[best(ib, ia, v, i) for i in range(3)] for v in range(3)])
        local = 0.5 * (
            naive_region(task.transform(ia, cb), ib, match_ab, 0.2)
            + naive_region(task.transform(ib, ca), ia, match_ba, 0.2)
        )
    assert out.logs["loss/holistic"].item() == pytest.approx(holistic, rel=1e-4)
    assert out.logs["loss/local"].item() == pytest.approx(local, rel=1e-4)
    assert out.loss.item() == pytest.approx(0.7 * holistic + 0.5 * local, rel=1e-4)
    out.loss.backward()
    assert (
        task.decoder[0].query.weight.grad.abs().sum() > 0 and task.time_embed[0].weight.grad.abs().sum() > 0
    )
    with pytest.raises(ValueError, match="not both 0"):
        ConSTCL(from_dict(ConSTCLConfig, {**TINY, "local_weight": 0.0, "holistic_weight": 0.0}))


@pytest.mark.parametrize("ablation", [(), ("model.local_weight=0",), ("model.holistic_weight=0",)])
def test_recipe_trains_on_real_clips(tmp_path: Path, ablation: tuple[str, ...]) -> None:
    cfg, rows = run_toy_recipe("constcl", tmp_path, *ablation)
    assert cfg["task"] == "constcl" and cfg["model"]["box_width"] == [0.1, 0.5]
    keys = set(rows[0])
    assert ("loss/local" in keys) is ("model.local_weight=0" not in ablation)
    assert ("loss/holistic" in keys) is ("model.holistic_weight=0" not in ablation)
    assert {"action", "clip_pairs"} <= set(json.loads((tmp_path / "eval.json").read_text()))


def _ranks_region(rank: int, world: int) -> dict:
    """Rank r's half of one batch: its region loss and the gradient it sends back to the full prediction."""
    g = torch.Generator().manual_seed(0)
    pred, targets = torch.randn(4, 3, 5, generator=g), torch.randn(4, 3, 5, generator=g)
    match = torch.randint(0, 3, (4, 3), generator=g)
    half = slice(2 * rank, 2 * rank + 2)
    p, t = pred[half].clone().requires_grad_(True), targets[half].clone().requires_grad_(True)
    loss = region_infonce(p, t, match[half], 0.2)
    loss.backward()
    return {"loss": loss.detach(), "grad_p": p.grad}


def test_region_infonce_gathers_the_targets_across_processes(tmp_path) -> None:
    """Two gloo processes, two videos each: the mean of their losses is the one-process loss of the four
    videos, and each prediction's gradient is the one-process gradient × world size (DDP averages)."""
    from avssl.testing import run_gloo_ranks

    ranks = run_gloo_ranks(_ranks_region, tmp_path, world=2, timeout=120)
    g = torch.Generator().manual_seed(0)
    pred, targets = torch.randn(4, 3, 5, generator=g), torch.randn(4, 3, 5, generator=g)
    match = torch.randint(0, 3, (4, 3), generator=g)
    pred.requires_grad_(True)
    whole = region_infonce(pred, targets, match, 0.2)
    whole.backward()
    assert (ranks[0]["loss"] + ranks[1]["loss"]).item() / 2 == pytest.approx(whole.item(), rel=1e-5)
    assert torch.allclose(torch.cat([r["grad_p"] for r in ranks]), 2 * pred.grad, atol=1e-6)
