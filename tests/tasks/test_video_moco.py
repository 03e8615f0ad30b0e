"""Video MoCo: the task's loss equals a per-sample loop written from the MoCo paper (Eq. 1, with the queue
as it was before the batch), the queue receives the keys at its pointer (FIFO, wrapping), the key encoder
follows Eq. 2, and the clip encoders of the registry plug in."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from avssl.config import from_dict, read_yaml
from avssl.tasks import TASKS
from avssl.tasks.av_contrastive import pool_map
from avssl.tasks.video_moco import VideoMoCo, VideoMoCoConfig

ROOT = Path(__file__).resolve().parents[2]
TINY = {"encoder": {"name": "small_3d"}, "embed_dim": 8, "hidden_dim": 16, "queue_size": 12}


# a two-step run of a video recipe on its own tiny synthetic UCF101 set (the recipe tests of video_moco's
# relatives share it)
TOY_RECIPE_ARGS = [
    "data.size=32",
    "data.num_workers=0",
    "synthetic_clips_per_class=4",
    "train.max_steps=2",
    "train.batch_size=4",
    "train.log_every=1",
    "train.progress_bar=false",
    "eval.clips=1",
    "eval.background_swapped=false",
]


def run_toy_recipe(recipe: str, out: Path, *extra: str) -> tuple[dict, list[dict]]:
    """`recipes/<recipe>.py` with its packaged config and TOY_RECIPE_ARGS (+ `extra`) into `out`; returns
    (the run's config.yaml, the logged loss rows)."""
    torch.set_num_threads(1)
    module = importlib.import_module(f"recipes.{recipe}")
    config = ROOT / "recipes" / "configs" / f"{recipe}.yaml"
    module.main(["--config", str(config), f"output_dir={out}", *TOY_RECIPE_ARGS, *extra])
    rows = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    return read_yaml(out / "config.yaml"), rows


def train_extra_term(task: torch.nn.Module, batch: dict, term: str, lr: float, steps: int = 6) -> list[float]:
    """SGD on the query encoder with the gradient of a video_moco relative's loss minus its InfoNCE (the
    extra term logged as `term`, e.g. MCL's alignment) for `steps` steps; each step checks that the
    second-order gradient reaches the encoder. Returns the term's values."""
    params = [p for n, p in task.named_parameters() if n.startswith("encoder.")]
    optimizer = torch.optim.SGD(params, lr=lr)
    values = []
    for _ in range(steps):
        out = task(batch)
        optimizer.zero_grad()
        grads = torch.autograd.grad(out.loss - out.logs["loss/moco"], params, allow_unused=True)
        assert any(g is not None and g.abs().sum() > 0 for g in grads)  # second order reaches the encoder
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()
        values.append(out.logs[term].item())
    return values


def _task(**overrides) -> VideoMoCo:
    torch.manual_seed(0)
    return VideoMoCo(from_dict(VideoMoCoConfig, {**TINY, **overrides}))


def _batch(seed: int, b: int = 4, frames: int = 4, size: int = 32) -> dict:
    g = torch.Generator().manual_seed(seed)
    views = [{"video": torch.randn(b, 3, frames, size, size, generator=g)} for _ in range(2)]
    return {"views": views, "video": views[0]["video"]}


def naive_moco_loss(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, tau: float) -> float:
    """He et al. 2020, Eq. 1 per query: -log exp(q·k+/τ) / (exp(q·k+/τ) + Σ_j exp(q·n_j/τ)), averaged;
    q, k, queue entries L2-normalised (Algorithm 1)."""
    total = 0.0
    for i in range(q.shape[0]):
        qi = q[i] / q[i].norm()
        ki = k[i] / k[i].norm()
        positive = math.exp(float(qi @ ki) / tau)
        negatives = sum(math.exp(float(qi @ (n / n.norm())) / tau) for n in queue)
        total -= math.log(positive / (positive + negatives))
    return total / q.shape[0]


def test_loss_equals_the_per_sample_loop_over_the_queue_before_the_batch() -> None:
    task = _task().train()
    batch = _batch(0)
    queue_before = task.queue.keys.clone().double()
    with torch.no_grad():
        q = task.head(pool_map(task.encoder(batch["views"][0]["video"]))).double()
        k = task.key_head(
            pool_map(task.key_encoder(batch["views"][1]["video"]))
        ).double()  # train-mode BN, as the task
    out = task(batch)
    want = naive_moco_loss(q, k, queue_before, tau=0.2)
    assert out.loss.item() == pytest.approx(want, rel=1e-4, abs=1e-5)
    assert out.logs["loss/moco"].item() == pytest.approx(want, rel=1e-4, abs=1e-5)
    assert 0.0 <= float(out.logs["acc/moco"]) <= 100.0


def test_queue_takes_the_keys_at_its_pointer_and_wraps() -> None:
    task = _task().train()
    initial = task.queue.keys.clone()
    keys = []
    for step in range(4):  # 4 batches of 4 keys into a queue of 12: the 4th overwrites the oldest
        batch = _batch(step)
        with torch.no_grad():
            keys.append(F.normalize(task.keys(batch["views"][1]["video"]), dim=1))
        task(batch)
        assert int(task.queue.ptr) == (4 * (step + 1)) % 12
        if step == 0:
            assert torch.equal(task.queue.keys[4:], initial[4:])  # the rest untouched
    assert torch.allclose(task.queue.keys[0:4], keys[3], atol=1e-6)
    assert torch.allclose(task.queue.keys[4:8], keys[1], atol=1e-6)
    assert torch.allclose(task.queue.keys[8:12], keys[2], atol=1e-6)


def test_key_encoder_follows_eq2_and_gets_no_gradient() -> None:
    task = _task(momentum=0.9).train()
    out = task(_batch(0))
    out.loss.backward()
    assert all(p.grad is None for p in task.key_encoder.parameters())
    before = {n: p.clone() for n, p in task.key_encoder.named_parameters()}
    with torch.no_grad():
        for p in task.encoder.parameters():
            p.add_(1.0)
    task.on_step_end(1, 10)
    for name, p in task.key_encoder.named_parameters():
        online = dict(task.encoder.named_parameters())[name]
        assert torch.allclose(p, 0.9 * before[name] + 0.1 * online, atol=1e-6), name


def test_embed_is_the_unit_norm_pooled_encoder_map() -> None:
    task = _task().eval()
    batch = _batch(1)
    with torch.no_grad():
        emb = task.embed(batch, "video")
        want = F.normalize(task.encoder(batch["video"]).mean((2, 3, 4)), dim=1)
    assert emb.shape == (4, task.encoder.out_dim)
    assert torch.allclose(emb, want, atol=1e-6)


def test_needs_two_views_and_a_clip_encoder() -> None:
    task = _task()
    with pytest.raises(ValueError, match="two clips"):
        task({"video": torch.randn(2, 3, 4, 32, 32)})
    with pytest.raises(ValueError, match="clip encoder"):
        VideoMoCo(from_dict(VideoMoCoConfig, {**TINY, "encoder": {"name": "small"}}))


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18", "x3d_s"])
def test_video_encoders_of_the_registry_plug_in(name: str) -> None:
    task = _task(encoder={"name": name}, queue_size=8).train()
    out = task(_batch(2, b=2, frames=8, size=32))
    assert torch.isfinite(out.loss)
    assert "video_moco" in TASKS


def test_recipe_config_loads_and_refuses_an_unknown_probe() -> None:
    from pathlib import Path

    from avssl.config import ConfigError, load_config
    from avssl.runner.specs import recipe_schema

    config = Path(__file__).resolve().parents[2] / "recipes" / "configs" / "video_moco.yaml"
    cfg = load_config(recipe_schema("video_moco"), config, [])
    assert cfg.model.encoder.name == "small_3d" and cfg.model.queue_size < 72  # fewer keys than videos
    assert len(cfg.data.views) == 2 and cfg.data.views[1].timing.rule == "distance"
    assert cfg.eval.protocols == ["linear", "knn"]
    with pytest.raises(ConfigError, match="eval.protocols"):
        load_config(recipe_schema("video_moco"), config, ["eval.protocols=[finetune]"])
