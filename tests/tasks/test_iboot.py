"""iBoot (Saleh et al., 2022): the frozen teacher is loaded from a weights file the test writes (or a run
directory) and never changes; the distillation is 2 − 2 cos between the predictor's outputs and the
teacher's frame features grouped per student time step (a loop written from the definition); the video term
is CVRL's InfoNCE; the recipe trains on real encoded clips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from avssl.config import from_dict
from avssl.encoders import Video3dConfig, Visual2dConfig, build_encoder
from avssl.tasks.iboot import IBoot, IBootConfig, group_mean
from tests.tasks.test_cvrl import naive_cvrl_loss
from tests.tasks.test_video_moco import run_toy_recipe


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory) -> str:
    """A 'pretrained' image encoder: a small 2D encoder with its own random weights, saved as a state dict."""
    torch.manual_seed(42)
    encoder = build_encoder(Visual2dConfig(name="small"))
    path = tmp_path_factory.mktemp("teacher") / "teacher.pth"
    torch.save(encoder.state_dict(), path)
    return str(path)


def _task(teacher: str, **overrides) -> IBoot:
    torch.manual_seed(0)
    cfg = {
        "encoder": {"name": "small_3d"},
        "teacher": {"name": "small", "weights": teacher},
        "predictor_hidden": 16,
        "embed_dim": 8,
        "hidden_dim": 16,
        **overrides,
    }
    return IBoot(from_dict(IBootConfig, cfg))


def _batch(b: int = 4) -> dict:
    g = torch.Generator().manual_seed(5)
    views = [{"video": torch.randn(b, 3, 8, 32, 32, generator=g)} for _ in range(2)]
    return {"views": views, "video": views[0]["video"]}


def test_group_mean_equals_the_loop() -> None:
    x = torch.randn(2, 3, 7)
    for groups in (1, 2, 3, 7):
        got = group_mean(x, groups)
        for g in range(groups):
            members = [k for k in range(7) if k * groups // 7 == g]
            assert torch.allclose(got[:, :, g], x[:, :, members].mean(2), atol=1e-6)
    with pytest.raises(ValueError, match="cannot split"):
        group_mean(x, 8)


@pytest.mark.parametrize("distill", ["frame", "clip"])
def test_loss_is_the_distillation_plus_infonce(teacher_file, distill) -> None:
    task = _task(teacher_file, distill=distill, distill_weight=0.6, video_weight=0.4, temperature=0.2).train()
    batch = _batch()
    out = task(batch)
    clips = torch.cat([v["video"] for v in batch["views"]])
    with torch.no_grad():  # the same train-mode pass
        maps = task.encoder(clips)
        pooled = maps.mean((3, 4))  # (2B, D, t)
        teacher = task.teacher(clips).mean((3, 4))  # (2B, Dt, T): frame features of the frozen teacher
        z = task.head(pooled.mean(2)).double()
        if distill == "clip":
            pred, goal = task.predictor(pooled.mean(2)), teacher.mean(2)
        else:
            t, frames = pooled.shape[2], teacher.shape[2]
            rows = [(b, s) for b in range(8) for s in range(t)]
            pred = task.predictor(torch.stack([pooled[b, :, s] for b, s in rows]))
            goal = torch.stack(
                [teacher[b, :, [k for k in range(frames) if k * t // frames == s]].mean(1) for b, s in rows]
            )
    distillation = sum(2 - 2 * F.cosine_similarity(p, q, dim=0) for p, q in zip(pred, goal)) / len(pred)
    video, _ = naive_cvrl_loss(z, 0.2)
    assert out.logs["loss/distill"].item() == pytest.approx(distillation.item(), rel=1e-4)
    assert out.logs["loss/video"].item() == pytest.approx(video, rel=1e-4)
    assert out.loss.item() == pytest.approx(0.6 * distillation.item() + 0.4 * video, rel=1e-4)


def test_teacher_is_loaded_frozen_and_never_moves(teacher_file, tmp_path) -> None:
    task = _task(teacher_file)
    saved = torch.load(teacher_file, weights_only=True)
    assert all(torch.equal(task.teacher.state_dict()[k], v) for k, v in saved.items())
    assert not any(p.requires_grad for p in task.teacher.parameters())
    task.train()
    assert not task.teacher.training  # BatchNorm statistics stay the pretrained ones
    optimizer = torch.optim.SGD([p for p in task.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):
        out = task(_batch())
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    assert all(torch.equal(task.teacher.state_dict()[k], v) for k, v in saved.items())
    assert task.predictor.net[0].weight.grad.abs().sum() > 0
    # bad settings are named
    untaught = IBoot(from_dict(IBootConfig, {"encoder": {"name": "small_3d"}, "teacher": {"name": "small"}}))
    with pytest.raises(ValueError, match="needs a pretrained teacher"):  # training; a rebuilt run only embeds
        untaught(_batch())
    assert untaught.embed({"video": _batch()["video"]}, "video").shape[0] == 4
    with pytest.raises(ValueError, match="not both 0"):
        _task(teacher_file, distill_weight=0.0, video_weight=0.0)
    clip_encoder = tmp_path / "clip_encoder.pth"
    torch.save(build_encoder(Video3dConfig(name="small_3d")).state_dict(), clip_encoder)
    with pytest.raises(ValueError, match="teacher must be an image encoder"):
        teacher = {"name": "small_3d", "weights": str(clip_encoder)}
        IBoot(from_dict(IBootConfig, {"encoder": {"name": "small_3d"}, "teacher": teacher}))


def test_recipe_trains_on_real_clips_with_a_teacher_file(tmp_path, teacher_file) -> None:
    cfg, rows = run_toy_recipe("iboot", tmp_path, f"model.teacher.weights={teacher_file}")
    assert cfg["task"] == "iboot" and cfg["model"]["teacher"]["weights"] == teacher_file
    assert [r["step"] for r in rows] == [1, 2] and all({"loss/distill", "loss/video"} <= set(r) for r in rows)
    assert {"action", "clip_pairs"} <= set(json.loads((Path(tmp_path) / "eval.json").read_text()))
    # the run loads for inference without the teacher file: its teacher comes from the run's own weights
    from avssl.inference.load import load_run

    Path(teacher_file).rename(Path(teacher_file).with_suffix(".moved"))
    try:
        task, _ = load_run(tmp_path)
    finally:
        Path(teacher_file).with_suffix(".moved").rename(teacher_file)
    saved = torch.load(teacher_file, weights_only=True)
    assert all(torch.equal(task.teacher.state_dict()[k], v) for k, v in saved.items())
