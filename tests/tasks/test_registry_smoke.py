"""Every entry of `avssl.tasks.TASKS`, built from its default config with tiny settings (small CPU encoders),
runs forward + backward on a tiny batch: the output is a `TaskOutput` with a finite scalar loss and
finite logs, and every parameter that requires grad gets a finite, non-None gradient. Parameters without
requires_grad are not checked, by design: image_multissl's momentum (EMA) key encoder and heads follow the
query side by `on_step_end`, never by gradient; binaural_multissl / image_multissl freeze the heads of the
pretexts a strategy does not train (none with the default strategy). The declared capabilities are
exercised too: `embed` for every modality in `embeds`, `localize`, `segment`, the step hook."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from avssl.config import from_dict
from avssl.tasks import TASKS
from avssl.tasks.base import Task, TaskOutput, capabilities
from tests.tasks.test_carl import TINY as CARL_TINY

SMALL_AV = {
    "visual": {"name": "small", "output_stride": 16},
    "audio": {"name": "audio_small", "output_stride": 16},
}


def _av_batch(frames: int = 1, size: int = 32, seconds: float = 0.5) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "video": torch.randn(4, 3, frames, size, size, generator=g),
        "audio": 0.1 * torch.randn(4, 1, int(seconds * 16000), generator=g),
    }


def _avs_batch() -> dict:
    batch = _av_batch(frames=2, size=64, seconds=2.0)
    g = torch.Generator().manual_seed(1)
    batch["mask"] = (torch.rand(4, 2, 64, 64, generator=g) > 0.5).to(torch.uint8)
    return batch


def _binaural_batch() -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "video": torch.randn(4, 3, 16, 32, 32, generator=g),
        "audio": 0.1 * torch.randn(4, 2, 64000, generator=g),
        "sample_rate": 16000,
    }


def _image_batch() -> dict:
    g = torch.Generator().manual_seed(0)
    views = [{"video": torch.randn(4, 3, 32, 32, generator=g)} for _ in range(2)]
    return {"views": views, "video": views[0]["video"]}


def _masked_image_batch() -> dict:
    batch = _image_batch()
    for view in batch["views"]:
        view["mask"] = torch.zeros(4, 1, 32, 32, dtype=torch.uint8)
        view["mask"][:, :, 8:24, 10:20] = 1
    return batch


def _segment_views_batch() -> dict:
    """Two crops and the whole image (cyborgs): identity geometry, the images' dataset indices."""
    g = torch.Generator().manual_seed(0)
    whole = torch.randn(4, 3, 1, 32, 32, generator=g)
    views = [{"video": whole + 0.1 * torch.randn(whole.shape, generator=g)} for _ in range(2)] + [
        {"video": whole}
    ]
    return {"views": views, "video": whole, "index": torch.arange(4)}


def _scene_objects_batch() -> dict:
    g = torch.Generator().manual_seed(0)
    valid = torch.tensor(
        [[True, True, False], [True, False, False], [True, True, True], [True, False, False]]
    )
    objects = torch.randn(4, 3, 2, 3, 1, 16, 16, generator=g) * valid[:, :, None, None, None, None, None]
    return {"video": torch.randn(4, 3, 1, 32, 32, generator=g), "objects": objects, "object_valid": valid}


def _semantic_points_batch() -> dict:
    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(4, 1, 1, 32, 32, dtype=torch.uint8)
    masks[..., 8:24, 8:24] = 1
    views = [{"video": torch.randn(4, 3, 1, 32, 32, generator=g), "mask": masks} for _ in range(2)]
    points = torch.rand(4, 2, 8, 2, generator=g) * 32
    return {
        "views": views,
        "video": views[0]["video"],
        "points": points,
        "point_class": torch.tensor([0] * 4 + [1] * 4).repeat(4, 1),
        "point_valid": torch.ones(4, 8, dtype=torch.bool),
    }


def _clip_pair_batch(motion: bool = False, track: bool = False) -> dict:
    g = torch.Generator().manual_seed(0)
    views = [{"video": torch.randn(4, 3, 4, 32, 32, generator=g)} for _ in range(2)]
    for k, view in enumerate(views):  # the windows' starts (s), as a clip dataset records them
        view["start_s"] = torch.tensor([0.0, 0.5, 1.0, 2.0], dtype=torch.float64) * k
        view["frame_s"] = view["start_s"][:, None] + (torch.arange(4, dtype=torch.float64) + 0.5) / 8
    if motion:  # frame differences: (B, 3, T - 1, H, W)
        for view in views:
            view["motion"] = torch.randn(4, 3, 3, 32, 32, generator=g)
    if track:  # the tracked object's box masks (B, T, H, W)
        for view in views:
            view["track_mask"] = torch.zeros(4, 4, 32, 32)
            view["track_mask"][:, :, 8:20, 10:24] = 1.0
    return {"views": views, "video": views[0]["video"]}


def _teacher_weights() -> str:
    """iboot's frozen teacher: a small 2D encoder's state dict, written once per process to a temp folder
    that is removed when the process exits."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from avssl.encoders import Visual2dConfig, build_encoder

    folder = Path(tempfile.mkdtemp(prefix="avssl_teacher_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "teacher.pth"
    torch.manual_seed(1)
    torch.save(build_encoder(Visual2dConfig(name="small")).state_dict(), path)
    return str(path)


# task → (overrides of its default config (a callable: made when first used), tiny batch)
TINY: dict[str, tuple[dict, Callable[[], dict]]] = {
    "av_contrastive": (
        {"visual": {"name": "small"}, "audio": {"name": "audio_small"}, "embed_dim": 16, "proj_hidden": 32},
        lambda: _av_batch(frames=2),
    ),
    "lvs": (SMALL_AV, _av_batch),
    "ezvsl": ({**SMALL_AV, "embed_dim": 16}, _av_batch),
    "ssl_tie": ({**SMALL_AV, "feature_consistency_weight": 0.5}, _av_batch),
    "avs": (
        {"visual": {"name": "small", "output_stride": 32}, "audio": {"name": "audio_small"}, "channels": 8},
        _avs_batch,
    ),
    "binaural_multissl": ({}, _binaural_batch),
    "image_multissl": (
        {"queue_size": 16, "dense_queue_size": 16, "hidden_dim": 32, "embed_dim": 16},
        _image_batch,
    ),
    "image_ssl": (
        {"queue_size": 16, "hidden_dim": 32, "embed_dim": 16, "background": {"mode": "bg_swaps", "p": 1.0}},
        _masked_image_batch,
    ),
    "hcl": ({"queue_size": 16, "hidden_dim": 32, "embed_dim": 16}, _scene_objects_batch),
    "cyborgs": (
        {"hidden_dim": 32, "embed_dim": 16, "mask_size": 32, "bootstrap_start": 0},
        _segment_views_batch,
    ),
    "sadl": ({"hidden_dim": 32, "embed_dim": 16, "predictor_hidden_dim": 8}, _semantic_points_batch),
    "video_moco": (
        {"encoder": {"name": "small_3d"}, "queue_size": 16, "hidden_dim": 32, "embed_dim": 16},
        _clip_pair_batch,
    ),
    "maclr": (
        {
            "encoder": {"name": "small_3d"},
            "motion_encoder": {"name": "small_3d"},
            "queue_size": 16,
            "hidden_dim": 32,
            "embed_dim": 16,
        },
        lambda: _clip_pair_batch(motion=True),
    ),
    "fame": (
        {"encoder": {"name": "small_3d"}, "queue_size": 16, "hidden_dim": 32, "embed_dim": 16},
        _clip_pair_batch,
    ),
    "mcl": (
        {
            "encoder": {"name": "small_3d"},
            "motion": "frame_difference",
            "queue_size": 16,
            "hidden_dim": 32,
            "embed_dim": 16,
        },
        lambda: _clip_pair_batch(motion=True),
    ),
    "previts": (
        {"encoder": {"name": "small_3d"}, "queue_size": 16, "hidden_dim": 32, "embed_dim": 16},
        lambda: _clip_pair_batch(track=True),
    ),
    "cvrl": ({"encoder": {"name": "small_3d"}, "hidden_dim": 32, "embed_dim": 16}, _clip_pair_batch),
    "concur": (
        {"encoder": {"name": "small_3d"}, "hidden_dim": 32, "embed_dim": 16, "distance_hidden": 16},
        _clip_pair_batch,
    ),
    "carl": (CARL_TINY, _clip_pair_batch),
    "constcl": (
        {
            "encoder": {"name": "small_3d"},
            "hidden_dim": 16,
            "embed_dim": 8,
            "decoder_dim": 8,
            "decoder_heads": 2,
            "decoder_layers": 2,
            "local_weight": 1.0,
        },
        _clip_pair_batch,
    ),
    "iboot": (
        lambda: {
            "encoder": {"name": "small_3d"},
            "teacher": {"name": "small", "weights": _teacher_weights()},
            "predictor_hidden": 16,
            "hidden_dim": 16,
            "embed_dim": 8,
        },
        _clip_pair_batch,
    ),
}


def test_every_registered_task_has_a_tiny_setting() -> None:
    assert set(TINY) == set(TASKS)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_forward_backward_gives_every_trainable_parameter_a_gradient(name: str) -> None:
    config_cls, builder = TASKS[name]
    overrides, make_batch = TINY[name]
    overrides = overrides() if callable(overrides) else overrides
    torch.manual_seed(0)
    task = builder(from_dict(config_cls, overrides)).train()
    out = task(make_batch())
    assert isinstance(out, TaskOutput) and out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert out.logs and all(torch.isfinite(torch.as_tensor(v)).all() for v in out.logs.values())
    out.loss.backward()
    trainable = [(n, p) for n, p in task.named_parameters() if p.requires_grad]
    assert trainable
    missing = [n for n, p in trainable if p.grad is None]
    assert not missing, f"{name}: no gradient for {missing[:5]}"
    nonfinite = [n for n, p in trainable if not torch.isfinite(p.grad).all()]
    assert not nonfinite, f"{name}: non-finite gradient for {nonfinite[:5]}"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_declared_capabilities_work(name: str) -> None:
    config_cls, builder = TASKS[name]
    overrides, make_batch = TINY[name]
    overrides = overrides() if callable(overrides) else overrides
    torch.manual_seed(0)
    task = builder(from_dict(config_cls, overrides)).eval()
    assert isinstance(task, Task)
    caps = capabilities(task)
    batch = make_batch()
    with torch.no_grad():
        for modality in caps.embeds:
            emb = task.embed(batch, modality)
            assert emb.shape[0] == 4 and emb.ndim == 2 and torch.isfinite(emb).all(), modality
        if caps.localize:
            assert task.localize(batch).shape[0] == 4
        if caps.segment:
            assert task.segment(batch).shape[:2] == batch["mask"].shape[:2]
    if caps.step_hook:
        task.on_step_end(1, 10)
    assert caps.embeds or caps.segment  # every method offers an evaluation besides its training loss
