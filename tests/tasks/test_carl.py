"""CARL (Chen et al., CVPR 2022): the task's loss is the sequence contrastive loss of its projected frame
embeddings with timestamps from the views' recorded frame times (checked with the per-frame loop of
tests/losses/test_sequence_contrast.py), the weakly supervised term pairs same-label videos by the textbook
DTW, the frame embeddings are what `embed` averages, and the recipe trains on real encoded clips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from avssl.config import from_dict
from avssl.tasks.carl import CARL, CARLConfig, frame_timestamps
from tests.losses.test_sequence_contrast import naive_scl
from tests.modules.test_dtw import textbook_dtw
from tests.tasks.test_video_moco import run_toy_recipe

TINY = {
    "encoder": {"name": "small"},
    "frame_hidden": 16,
    "frame_dim": 16,
    "heads": 2,
    "layers": 1,
    "ff_dim": 32,
    "embed_dim": 8,
    "projection_dim": 8,
    "dropout": 0.0,
}


def _task(**overrides) -> CARL:
    torch.manual_seed(0)
    return CARL(from_dict(CARLConfig, {**TINY, **overrides}))


def _batch(labels=None) -> dict:
    g = torch.Generator().manual_seed(3)
    views = []
    for start in ([0.0, 0.25, 1.0, 0.5], [0.375, 0.0, 1.25, 0.5]):
        s = torch.tensor(start, dtype=torch.float64)
        views.append(
            {
                "video": torch.randn(4, 3, 6, 32, 32, generator=g),
                "frame_s": s[:, None] + (torch.arange(6, dtype=torch.float64) + 0.5) / 8,
            }
        )
    batch = {"views": views, "video": views[0]["video"]}
    if labels is not None:
        batch["label"] = torch.tensor(labels)
    return batch


def test_loss_is_the_sequence_contrast_of_the_projected_frames() -> None:
    task = _task().train()
    batch = _batch()
    out = task(batch)
    with torch.no_grad():  # the same train-mode pass (BatchNorm over both views' frames)
        f1, f2 = task.frames(torch.cat([v["video"] for v in batch["views"]])).chunk(2)
        z1, z2 = task._project(f1).double(), task._project(f2).double()
    # timestamps in frames at 8 fps: frame_s × 8
    t1, t2 = (v["frame_s"] * 8 for v in batch["views"])
    assert torch.allclose(frame_timestamps(batch["views"][0]["frame_s"]), t1)
    ones = torch.ones(4, 6, dtype=torch.bool)
    expected = naive_scl(z1, t1, z2, t2, ones, ones, 0.1, 10.0)
    assert out.logs["loss/sequence"].item() == pytest.approx(expected, rel=1e-4)
    assert out.loss.item() == pytest.approx(expected, rel=1e-4)
    # `frame_subset` views: frames marked invalid are neither rows nor columns of the loss
    valid = torch.ones(4, 6, dtype=torch.bool)
    valid[1, 4:] = False
    batch["views"][1]["frame_valid"] = valid
    masked = task(batch).logs["loss/sequence"].item()
    assert masked == pytest.approx(naive_scl(z1, t1, z2, t2, ones, valid, 0.1, 10.0), rel=1e-4)
    out.loss.backward()
    assert task.temporal.layers[0].self_attn.in_proj_weight.grad.abs().sum() > 0
    assert task.encoder.net.blocks[0][0].weight.grad.abs().sum() > 0


def test_weak_term_pairs_same_label_videos_by_dtw() -> None:
    task = _task(weak_weight=0.5).train()
    batch = _batch(labels=[3, 1, 3, 2])  # videos 0 and 2 share a label; 1 and 3 have no partner
    out = task(batch)
    with torch.no_grad():
        f1, _ = task.frames(torch.cat([v["video"] for v in batch["views"]])).chunk(2)
        z1 = task._project(f1).double()
    unit = F.normalize(f1.double(), dim=2)
    rows, positions = [(0, 2), (2, 0)], []
    for a, b in rows:  # textbook DTW on 1 − cos, backtracked: the mean partner index of each frame
        cost = (1.0 - unit[a] @ unit[b].T).tolist()
        acc = textbook_dtw(cost)
        i, j, path = 5, 5, [(5, 5)]
        while (i, j) != (0, 0):
            steps = [(acc[i - 1][j - 1], i - 1, j - 1)] if i and j else []
            steps += [(acc[i - 1][j], i - 1, j)] if i else []
            steps += [(acc[i][j - 1], i, j - 1)] if j else []
            _, i, j = min(steps, key=lambda s: s[0])
            path.append((i, j))
        positions.append(
            [sum(q for p, q in path if p == k) / sum(1 for p, _ in path if p == k) for k in range(6)]
        )
    t_a = torch.tensor(positions, dtype=torch.float64)
    t_b = torch.arange(6, dtype=torch.float64).expand(2, 6)
    ones = torch.ones(2, 6, dtype=torch.bool)
    expected = naive_scl(z1[[0, 2]], t_a, z1[[2, 0]], t_b, ones, ones, 0.1, 10.0)
    assert out.logs["loss/weak"].item() == pytest.approx(expected, rel=1e-4)
    assert out.loss.item() == pytest.approx(out.logs["loss/sequence"].item() + 0.5 * expected, rel=1e-5)
    # no partner in the batch: the term is 0; no labels: a clear error
    assert task(_batch(labels=[0, 1, 2, 3])).logs["loss/weak"].item() == 0.0
    with pytest.raises(ValueError, match="needs labels"):
        task(_batch())


def test_embeddings_and_bad_input_are_named() -> None:
    task = _task().eval()
    batch = _batch()
    frames = task.embed_frames(batch)
    assert frames.shape == (4, 6, 8) and torch.allclose(frames.norm(dim=2), torch.ones(4, 6))
    assert torch.allclose(task.embed(batch, "video"), F.normalize(frames.mean(1), dim=1))
    del batch["views"][1]["frame_s"]
    with pytest.raises(ValueError, match="frame_s"):
        task(batch)
    with pytest.raises(ValueError, match="per-frame 2D encoder"):
        _task(encoder={"name": "small_3d"})
    with pytest.raises(ValueError, match="multiple of model.heads"):
        _task(frame_dim=15)


@pytest.mark.parametrize("weak", [False, True])
def test_recipe_trains_on_real_clips(tmp_path: Path, weak: bool) -> None:
    cfg, rows = run_toy_recipe("carl", tmp_path, *(["model.weak_weight=1"] if weak else []))
    assert cfg["task"] == "carl" and cfg["model"]["weak_weight"] == (1.0 if weak else 0.0)
    assert [r["step"] for r in rows] == [1, 2] and all("loss/sequence" in r for r in rows)
    assert all(("loss/weak" in r) is weak for r in rows)
    assert {"action", "clip_pairs"} <= set(json.loads((tmp_path / "eval.json").read_text()))


def test_frame_subset_views_keep_their_frames_times(tmp_path) -> None:
    """CARL's views as its release samples them: random sorted frame subsets of one long window; each view's
    frame_s are the kept frames' times and its frames are those frames; past the video's end, frames are
    repeats marked invalid."""
    from avssl.data.datasets import load_index
    from avssl.data.datasets.base import ClipDataset, ClipSpec, ClipView, read_frame_window
    from avssl.data.synthetic.phases import PhaseSynthSpec, write_phase_synthetic
    from avssl.transforms import build_transforms

    root = write_phase_synthetic(
        tmp_path / "penn", PhaseSynthSpec(n=3, size=24, min_frames=20, max_frames=20)
    )
    item = load_index("pennaction", root, None).items[0]
    subset = [{"name": "frame_subset", "count": 8}]
    views = [ClipView(build_transforms(subset)), ClipView(build_transforms(subset))]
    spec = ClipSpec(duration_s=1.0, fps=30, size=None, sampler="start")  # 30 frames: 20 in the video
    sample = ClipDataset([item], spec, seed=3, views=views)[(0, 0)]
    window = read_frame_window(item, 0.0, 1.0, 30)
    for view in sample["views"]:
        index = view["frame_index"]
        assert torch.all(index[1:] > index[:-1]) and index.max() < 20 and view["frame_valid"].all()
        assert torch.allclose(view["frame_s"], (index.double() + 0.5) / 30)
        assert torch.equal(view["video"], window.frames[index].permute(0, 3, 1, 2))
    assert not torch.equal(sample["views"][0]["frame_index"], sample["views"][1]["frame_index"])
    short = build_transforms([{"name": "frame_subset", "count": 6}])
    out = short(
        {"video": torch.zeros(10, 3, 4, 4), "meta": {"valid_frames": 4}}, torch.Generator().manual_seed(0)
    )
    assert out["frame_index"].tolist() == [0, 1, 2, 3, 3, 3]
    assert out["frame_valid"].tolist() == [True] * 4 + [False] * 2
