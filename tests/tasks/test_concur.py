"""ConCur (Roy & Etemad, ICASSP 2023): the loss is CVRL's InfoNCE plus the weighted cross-entropy of the
temporal-distance head (a per-pair loop written from the definition), the distance bins a loop too, the
curriculum holds in the batches a dataset hands out (near positives first), and the recipe trains on real
encoded clips with either ablation switched by an override."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from avssl.config import from_dict
from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipDataset, ClipSpec, ClipView, collate
from avssl.data.sampling import ViewTiming
from avssl.data.synthetic.action import ActionSynthSpec, write_action_synthetic
from avssl.tasks.concur import ConCur, ConCurConfig, distance_bin
from tests.tasks.test_cvrl import naive_cvrl_loss
from tests.tasks.test_video_moco import run_toy_recipe

TINY = {
    "encoder": {"name": "small_3d"},
    "embed_dim": 8,
    "hidden_dim": 16,
    "distance_hidden": 12,
    "distance_max_s": 1.0,
}


def _task(**overrides) -> ConCur:
    torch.manual_seed(0)
    return ConCur(from_dict(ConCurConfig, {**TINY, **overrides}))


def _views(starts: list[tuple[float, float]]) -> list[dict]:
    g = torch.Generator().manual_seed(len(starts))
    b = len(starts)
    return [
        {
            "video": torch.randn(b, 3, 4, 32, 32, generator=g),
            "start_s": torch.tensor([pair[k] for pair in starts], dtype=torch.float64),
        }
        for k in range(2)
    ]


def naive_bin(distance: float, bins: int, max_s: float) -> int:
    """The bin of one distance: the k with k·w <= d < (k+1)·w, w = max_s / bins; past the last edge: the last."""
    width = max_s / bins
    for k in range(bins):
        if distance < (k + 1) * width:
            return k
    return bins - 1


def test_distance_bins_equal_the_loop() -> None:
    distances = [0.0, 0.249, 0.25, 0.5, 0.74, 0.99, 1.0, 3.7]
    got = distance_bin(torch.tensor(distances), 4, 1.0).tolist()
    assert got == [naive_bin(d, 4, 1.0) for d in distances] == [0, 0, 1, 2, 2, 3, 3, 3]


def test_loss_is_infonce_plus_the_weighted_distance_cross_entropy() -> None:
    starts = [(0.0, 0.9), (0.5, 0.1), (1.0, 1.0), (0.2, 0.55), (0.0, 2.0)]
    task = _task(temperature=0.3, distance_weight=0.7).train()
    views = _views(starts)
    with torch.no_grad():  # one encoder pass over both clips, train-mode BatchNorm, as the task
        h = task.encoder(torch.cat([v["video"] for v in views])).mean((2, 3, 4))
        z = task.head(h).double()
        logits = task.distance_head(torch.cat([h[:5], h[5:]], dim=1)).double()
    out = task({"views": views, "video": views[0]["video"]})
    contrast, accuracy = naive_cvrl_loss(z, 0.3)
    ce, hits = 0.0, 0
    for i, (a, b) in enumerate(starts):  # −log softmax(logits_i)[bin of |b − a|], averaged over pairs
        target = naive_bin(abs(b - a), 4, 1.0)
        row = logits[i].tolist()
        ce -= row[target] - math.log(sum(math.exp(v) for v in row))
        hits += max(range(4), key=lambda k: row[k]) == target
    ce /= len(starts)
    assert out.logs["loss/contrast"].item() == pytest.approx(contrast, rel=1e-4, abs=1e-5)
    assert out.logs["acc/contrast"].item() == pytest.approx(accuracy)
    assert out.logs["loss/distance"].item() == pytest.approx(ce, rel=1e-4, abs=1e-5)
    assert out.logs["acc/distance"].item() == pytest.approx(100.0 * hits / len(starts))
    assert out.loss.item() == pytest.approx(contrast + 0.7 * ce, rel=1e-4, abs=1e-5)
    out.loss.backward()
    assert task.distance_head.net[0].weight.grad.abs().sum() > 0
    assert task.encoder.blocks[0][0].weight.grad.abs().sum() > 0
    # distance_weight 0: the loss is the contrast alone
    plain = _task(temperature=0.3, distance_weight=0.0).train()
    out = plain({"views": views, "video": views[0]["video"]})
    assert out.loss.item() == pytest.approx(out.logs["loss/contrast"].item())


def test_distance_head_learns_the_distance_from_the_clips() -> None:
    """A fixed encoder and clips whose content says their time (frame value = start): the head alone, trained
    on the loss, classifies the pairs' distances far above chance (25 %)."""
    torch.manual_seed(1)
    task = _task(distance_hidden=32)
    task.encoder.eval()  # fixed: only the distance head is optimised
    optimizer = torch.optim.Adam(task.distance_head.parameters(), lr=0.01)

    def batch(seed: int) -> dict:
        g = torch.Generator().manual_seed(seed)
        a, b = torch.rand(32, generator=g), torch.rand(32, generator=g)
        views = [
            {"video": s.view(-1, 1, 1, 1, 1).expand(-1, 3, 4, 16, 16).float() * 4, "start_s": s.double()}
            for s in (a, b)
        ]
        return {"views": views, "video": views[0]["video"]}

    for step in range(150):
        out = task(batch(step))
        optimizer.zero_grad()
        out.loss.backward()  # the contrast's gradient does not reach the distance head
        optimizer.step()
    task.eval()
    held = [task(batch(10_000 + k)).logs["acc/distance"].item() for k in range(4)]
    assert sum(held) / 4 >= 60.0, held


def test_bad_configs_and_batches_are_named() -> None:
    with pytest.raises(ValueError, match="distance_bins >= 2"):
        _task(distance_bins=1)
    with pytest.raises(ValueError, match="distance_layers"):
        _task(distance_layers=0)
    views = _views([(0.0, 0.5), (0.1, 0.2)])
    del views[1]["start_s"]
    with pytest.raises(ValueError, match="start_s"):
        _task()({"views": views, "video": views[0]["video"]})
    with pytest.raises(ValueError, match="two clips"):
        _task()({"video": views[0]["video"]})


def test_the_curriculum_reaches_the_batches(tmp_path: Path) -> None:
    """Real encoded 4 s clips, 1 s windows: at epoch 0 every positive lies within 0.25 s of its anchor; from
    the curriculum's last epoch on, pairs span the video (up to 3 s)."""
    spec = ActionSynthSpec(num_classes=2, clips_per_class=3, size=40, frames=32, fps=8.0, seed=2)
    items = load_index("ucf101", write_action_synthetic("ucf101", tmp_path, spec), "train").items
    timing = ViewTiming(rule="distance", distance="uniform", curriculum_start_s=0.25, curriculum_epochs=4)
    dataset = ClipDataset(
        items * 8,
        ClipSpec(duration_s=1.0, fps=8, size=(24, 24)),
        seed=0,
        views=[ClipView(), ClipView(None, timing)],
    )

    def gaps(epoch: int) -> torch.Tensor:
        batch = collate([dataset[(k, epoch)] for k in range(len(dataset))])
        return (batch["views"][1]["start_s"] - batch["views"][0]["start_s"]).abs()

    early, late = gaps(0), gaps(4)
    assert early.max() <= 0.25 + 1e-6
    assert late.max() > 1.0 and late.mean() > 2 * early.mean()


@pytest.mark.parametrize(
    "ablation", [(), ("data.views.1.timing.curriculum_epochs=0", "model.distance_weight=0")]
)
def test_recipe_trains_on_real_clips(tmp_path: Path, ablation: tuple[str, ...]) -> None:
    cfg, rows = run_toy_recipe("concur", tmp_path, *ablation)
    assert cfg["task"] == "concur" and cfg["model"]["distance_bins"] == 4
    assert cfg["data"]["views"][1]["timing"]["curriculum_epochs"] == (0 if ablation else 10)
    assert [r["step"] for r in rows] == [1, 2]
    assert all({"loss/contrast", "loss/distance", "acc/distance"} <= set(r) for r in rows)
    assert {"action", "clip_pairs"} <= set(json.loads((tmp_path / "eval.json").read_text()))
