"""CVRL (Qian et al., CVPR 2021): the loss is the InfoNCE of Sec. 3.1 over the 2B clips of the batch (a per-clip
loop written from the paper), the pretext accuracy a loop too, the clip augmentation is one draw per clip
(per_frame: one per frame, the ablation), and the recipe trains on real encoded clips with either ablation
switched by an override."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from avssl.config import from_dict
from avssl.tasks.cvrl import CVRL, CVRLConfig
from avssl.transforms.clip import ClipAugment, apply_clip_augment
from tests.tasks.test_video_moco import run_toy_recipe

TINY = {"encoder": {"name": "small_3d"}, "embed_dim": 8, "hidden_dim": 16}


def _task(**overrides) -> CVRL:
    torch.manual_seed(0)
    return CVRL(from_dict(CVRLConfig, {**TINY, **overrides}))


def _views(seed: int, b: int = 5) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    return [{"video": torch.randn(b, 3, 4, 32, 32, generator=g)} for _ in range(2)]


def naive_cvrl_loss(z: torch.Tensor, tau: float) -> tuple[float, float]:
    """Sec. 3.1 per clip: z (2B, D), clip i's positive is the other clip of its video (i ± B), its negatives
    the other 2B − 2 clips: −log exp(s_ip / τ) / Σ_{j≠i} exp(s_ij / τ), s = cosine; averaged over the 2B
    clips. Also the share of clips whose positive is their most similar other clip (percent)."""
    n = z.shape[0]
    half = n // 2
    total, hits = 0.0, 0
    for i in range(n):
        p = (i + half) % n
        sims = {j: float(z[i] @ z[j] / (z[i].norm() * z[j].norm())) for j in range(n) if j != i}
        total -= math.log(math.exp(sims[p] / tau) / sum(math.exp(s / tau) for s in sims.values()))
        hits += max(sims, key=sims.get) == p
    return total / n, 100.0 * hits / n


def test_loss_and_accuracy_equal_the_per_clip_loop() -> None:
    task = _task(temperature=0.3).train()
    views = _views(0)
    with torch.no_grad():  # one encoder pass over both clips, train-mode BatchNorm, as the task
        z = task.head(task.encoder(torch.cat([v["video"] for v in views])).mean((2, 3, 4))).double()
    out = task({"views": views, "video": views[0]["video"]})
    loss, accuracy = naive_cvrl_loss(z, 0.3)
    assert out.loss.item() == pytest.approx(loss, rel=1e-4, abs=1e-5)
    assert out.logs["loss/cvrl"].item() == pytest.approx(loss, rel=1e-4, abs=1e-5)
    assert out.logs["acc/cvrl"].item() == pytest.approx(accuracy)
    out.loss.backward()
    assert task.encoder.blocks[0][0].weight.grad.abs().sum() > 0
    # identical clips: every positive is found
    same = [views[0], {"video": views[0]["video"].clone()}]
    assert task({"views": same, "video": same[0]["video"]}).logs["acc/cvrl"].item() == 100.0


def test_embed_is_the_pooled_encoder_and_bad_configs_are_named() -> None:
    task = _task().eval()
    video = _views(1)[0]["video"]
    emb = task.embed({"video": video}, "video")
    assert emb.shape == (5, 128) and torch.allclose(emb.norm(dim=1), torch.ones(5))
    assert torch.allclose(emb, torch.nn.functional.normalize(task.encoder(video).mean((2, 3, 4)), dim=1))
    with pytest.raises(ValueError, match="head_layers"):
        _task(head_layers=0)
    with pytest.raises(ValueError, match="two clips"):
        _task()({"video": video})


def test_one_draw_per_clip_and_the_per_frame_ablation() -> None:
    frame = torch.randint(0, 256, (3, 40, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    still = frame.expand(6, 3, 40, 48).clone()
    args = {"size": 24, "scale": (0.2, 0.6), "flip_p": 0.5, "jitter_p": 1.0, "grayscale_p": 0.2}
    consistent = ClipAugment(**args)({"video": still}, torch.Generator().manual_seed(1))["video"]
    assert all(torch.equal(consistent[0], consistent[t]) for t in range(6))
    out = ClipAugment(**args, per_frame=True)({"video": still}, torch.Generator().manual_seed(1))
    records = out["augment"]["per_frame"]
    assert len(records) == 6 and len({tuple(r["crop"]) for r in records}) == 6  # a new crop every frame
    for t, record in enumerate(records):  # each frame is its own record replayed
        assert torch.equal(out["video"][t], apply_clip_augment(still[t : t + 1], record, (24, 24))[0])
    with pytest.raises(ValueError, match=r"per_frame augments frames only.*\['mask'\]"):
        ClipAugment(**args, per_frame=True)({"video": still, "mask": torch.zeros(6, 40, 48)}, None)


@pytest.mark.parametrize(
    "ablation", [(), ("data.transforms.0.per_frame=true", "data.views.1.timing.distance=uniform")]
)
def test_recipe_trains_on_real_clips(tmp_path: Path, ablation: tuple[str, ...]) -> None:
    cfg, rows = run_toy_recipe("cvrl", tmp_path, *ablation)
    assert cfg["task"] == "cvrl" and cfg["model"]["temperature"] == 0.1
    assert cfg["data"]["transforms"][0]["per_frame"] is bool(ablation)
    assert cfg["data"]["views"][1]["timing"]["distance"] == ("uniform" if ablation else "power")
    assert [r["step"] for r in rows] == [1, 2] and all("loss/cvrl" in r and "acc/cvrl" in r for r in rows)
    assert {"action", "clip_pairs"} <= set(json.loads((tmp_path / "eval.json").read_text()))
