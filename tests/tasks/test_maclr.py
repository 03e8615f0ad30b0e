"""MaCLR task (Xiao et al., ECCV 2022): its loss equals the paper's terms computed by a per-sample loop on
the pathways' own queries and keys (with the queues as they were before the batch), each pathway's queue
receives its keys, both key encoders follow MoCo's Eq. 2, the motion encoder takes the motion input's
channels, only the visual encoder embeds, bad input is a clear error, and the recipe trains on real
encoded clips with frame differences computed in the data workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from avssl.config import from_dict
from avssl.tasks import TASKS
from avssl.tasks.av_contrastive import pool_map
from avssl.tasks.maclr import MaCLR, MaCLRConfig
from tests.losses.test_maclr import nce_loop
from tests.tasks.test_video_moco import run_toy_recipe

TINY = {
    "encoder": {"name": "small_3d"},
    "motion_encoder": {"name": "small_3d"},
    "embed_dim": 8,
    "hidden_dim": 16,
    "queue_size": 12,
}
ROOT = Path(__file__).resolve().parents[2]


def _task(**overrides) -> MaCLR:
    torch.manual_seed(0)
    return MaCLR(from_dict(MaCLRConfig, {**TINY, **overrides}))


def _batch(seed: int, b: int = 4, frames: int = 4, size: int = 32, channels: int = 3) -> dict:
    g = torch.Generator().manual_seed(seed)
    views = [
        {
            "video": torch.randn(b, 3, frames, size, size, generator=g),
            "motion": torch.randn(b, channels, frames - 1, size, size, generator=g),
        }
        for _ in range(2)
    ]
    return {"views": views, "video": views[0]["video"]}


def _embeddings(pathway, clips: torch.Tensor, key: bool) -> torch.Tensor:
    encoder, head = (pathway.key_encoder, pathway.key_head) if key else (pathway.encoder, pathway.head)
    return head(pool_map(encoder(clips))).double()


def test_loss_equals_the_papers_terms_by_a_per_sample_loop() -> None:
    task = _task(visual_weight=0.5, motion_weight=2.0, cross_weight=1.5).train()
    batch = _batch(0)
    v, m = task.visual, task.motion
    queue_v, queue_m = v.queue.keys.clone().double(), m.queue.keys.clone().double()
    with torch.no_grad():  # train-mode BN, as in the task
        q_v = _embeddings(v, batch["views"][0]["video"], key=False)
        k_v = _embeddings(v, batch["views"][1]["video"], key=True)
        q_m = _embeddings(m, batch["views"][0]["motion"], key=False)
        k_m = _embeddings(m, batch["views"][1]["motion"], key=True)
    out = task(batch)
    visual, motion = nce_loop(q_v, k_v, queue_v, 0.1), nce_loop(q_m, k_m, queue_m, 0.1)
    cross = 0.5 * (nce_loop(q_v, k_m, queue_m, 0.1) + nce_loop(q_m, k_v, queue_v, 0.1))
    assert out.logs["loss/visual"].item() == pytest.approx(visual, rel=1e-4, abs=1e-5)
    assert out.logs["loss/motion"].item() == pytest.approx(motion, rel=1e-4, abs=1e-5)
    assert out.logs["loss/cross"].item() == pytest.approx(cross, rel=1e-4, abs=1e-5)
    assert out.loss.item() == pytest.approx(0.5 * visual + 2.0 * motion + 1.5 * cross, rel=1e-4, abs=1e-5)
    # each pathway's queue took its own keys at the pointer
    assert torch.allclose(task.visual.queue.keys[:4].double(), F.normalize(k_v, dim=1), atol=1e-5)
    assert torch.allclose(task.motion.queue.keys[:4].double(), F.normalize(k_m, dim=1), atol=1e-5)


def test_switched_off_terms_are_not_logged_and_not_computed() -> None:
    task = _task(motion_weight=0.0, cross_weight=0.0).train()
    batch = _batch(1)
    del batch["views"][0]["motion"], batch["views"][1]["motion"]  # no motion needed without its terms
    out = task(batch)
    assert set(out.logs) == {"loss/maclr", "loss/visual", "acc/visual"}
    assert int(task.motion.queue.ptr) == 0 and int(task.visual.queue.ptr) == 4
    out = _task(visual_weight=0.0).train()(_batch(1))
    assert "loss/visual" not in out.logs and {"loss/motion", "loss/cross"} <= set(out.logs)


def test_both_key_encoders_follow_eq2_without_gradient() -> None:
    task = _task(momentum=0.9).train()
    task(_batch(0)).loss.backward()
    before = {}
    for name, pathway in (("visual", task.visual), ("motion", task.motion)):
        assert all(p.grad is None for p in pathway.key_encoder.parameters())
        assert all(p.grad is not None for p in pathway.encoder.parameters())
        before[name] = {n: p.clone() for n, p in pathway.key_encoder.named_parameters()}
        with torch.no_grad():
            for p in pathway.encoder.parameters():
                p.add_(1.0)
    task.on_step_end(1, 10)
    for name, pathway in (("visual", task.visual), ("motion", task.motion)):
        online = dict(pathway.encoder.named_parameters())
        for key, p in pathway.key_encoder.named_parameters():
            assert torch.allclose(p, 0.9 * before[name][key] + 0.1 * online[key], atol=1e-6), (name, key)


def test_motion_encoder_takes_the_motion_inputs_channels() -> None:
    frame_diff = _task()
    assert (
        frame_diff.motion.encoder(torch.randn(1, 3, 3, 32, 32)).shape[1] == frame_diff.motion.encoder.out_dim
    )
    flow = _task(motion="flow").train()
    assert torch.isfinite(flow(_batch(0, channels=2)).loss)
    with pytest.raises(ValueError, match="takes 2 channels"):
        flow(_batch(0, channels=3))
    explicit = _task(motion_encoder={"name": "small_3d", "in_channels": 1}).train()
    assert torch.isfinite(explicit(_batch(0, channels=1)).loss)


def test_embed_is_the_visual_encoder_alone() -> None:
    task = _task().eval()
    video = _batch(2)["video"]
    with torch.no_grad():
        emb = task.embed({"video": video}, "video")  # no motion input at evaluation
        want = F.normalize(task.visual.encoder(video).mean((2, 3, 4)), dim=1)
    assert torch.allclose(emb, want, atol=1e-6) and task.encoder is task.visual.encoder
    assert task.embeds == frozenset({"video"})


def test_bad_input_is_a_clear_error() -> None:
    task = _task()
    with pytest.raises(ValueError, match="two clips"):
        task({"video": torch.randn(2, 3, 4, 32, 32)})
    batch = _batch(0)
    del batch["views"][1]["motion"]
    with pytest.raises(ValueError, match="motion input in view 1.*frame_difference"):
        task(batch)
    with pytest.raises(ValueError, match="clip encoders"):
        _task(encoder={"name": "small"})
    assert "maclr" in TASKS


@pytest.mark.parametrize("motion", ["frame_difference", "flow"])
def test_recipe_trains_on_real_clips_with_motion_from_the_workers(tmp_path: Path, motion: str) -> None:
    """Frame differences (the config as shipped) or OpenCV flow computed in the data workers (cached
    beside the run) feed the motion pathway through the runner."""
    transforms = []
    if motion == "flow":
        cache = tmp_path / "flow_cache"
        transforms = [
            "model.motion=flow",
            "data.transforms=[{name: optical_flow, method: farneback, cache_dir: "
            + str(cache)
            + ", fps: 8.0}, {name: clip_augment, scale: [0.3, 1.0], flip_p: 0.0}, {name: normalize}]",
        ]
    run = tmp_path / "run"
    config, rows = run_toy_recipe("maclr", run, *transforms)
    assert config["task"] == "maclr" and config["model"]["motion"] == motion
    assert [r["step"] for r in rows] == [1, 2]
    assert all({"loss/visual", "loss/motion", "loss/cross"} <= set(r) for r in rows)
    assert (run / "model" / "model.safetensors").is_file()
    assert {"action", "clip_pairs"} <= set(json.loads((run / "eval.json").read_text()))
    if motion == "flow":
        assert list(cache.glob("*/*.npy"))  # the flow was computed by the workers and cached beside the run
