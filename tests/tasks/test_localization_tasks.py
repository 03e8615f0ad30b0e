"""The localization head, SSL-TIE's equivariance term, and smoke runs of the LVS,
EZ-VSL and SSL-TIE tasks (every ablation switch) on tiny inputs."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.config import from_dict, to_dict
from avssl.encoders import AudioCNNConfig, Visual2dConfig
from avssl.heads.localization import (
    AudioVisualSimilarity,
    cosine_map,
    cosine_map_all_pairs,
    pool_audio,
    reduce_time,
)
from avssl.losses.trimap import TriMapConfig
from avssl.tasks import ssl_tie
from avssl.tasks.ezvsl import EZVSL, EZVSLConfig, minmax, object_saliency
from avssl.tasks.localization_common import select_frames
from avssl.tasks.lvs import LVS, LVSConfig
from avssl.tasks.ssl_tie import SSLTIE, SSLTIEConfig
from avssl.transforms.batched import GeometryConfig

SAMPLE_RATE = 16000


def _small(**extra) -> dict:
    return {
        "visual": Visual2dConfig(name="small", output_stride=16),
        "audio": AudioCNNConfig(name="audio_small", output_stride=16),
        **extra,
    }


def _batch(b: int = 4, size: int = 64, frames: int = 1, seconds: float = 0.5, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "video": torch.randn(b, 3, frames, size, size, generator=g),
        "audio": torch.randn(b, 1, int(seconds * SAMPLE_RATE), generator=g),
    }


def _build(name: str, **extra) -> nn.Module:
    torch.manual_seed(0)
    if name == "lvs":
        return LVS(LVSConfig(**_small(**extra)))
    if name == "ezvsl":
        return EZVSL(EZVSLConfig(**_small(embed_dim=32, **extra)))
    return SSLTIE(SSLTIEConfig(**_small(**extra)))


def _check_step(task: nn.Module, batch: dict) -> dict[str, Tensor]:
    out = task(batch)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert all(k.startswith("loss/") for k in out.logs)
    out.loss.backward()
    grads = [p.grad for p in task.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    return {"loss": out.loss, **out.logs}


# ---------------------------------------------------------------- head


def test_cosine_maps_match_loops() -> None:
    g = torch.Generator().manual_seed(0)
    v = nn.functional.normalize(torch.randn(3, 5, 2, 4, generator=g), dim=1)
    a = nn.functional.normalize(torch.randn(2, 5, generator=g), dim=1)
    pairs = cosine_map_all_pairs(v, a)
    assert pairs.shape == (2, 3, 2, 4)
    for i, j, y, x in itertools.product(range(2), range(3), range(2), range(4)):
        assert pairs[i, j, y, x].item() == pytest.approx(
            sum(float(a[i, d] * v[j, d, y, x]) for d in range(5)), abs=1e-6
        )
    assert torch.allclose(cosine_map(v[:2], a), pairs[[0, 1], [0, 1]])


def test_head_normalises_projects_and_pools() -> None:
    head = AudioVisualSimilarity(6, 4, embed_dim=3)
    visual, audio = head.visual(torch.randn(2, 6, 3, 3)), head.audio(torch.randn(2, 4, 5, 7))
    assert visual.shape == (2, 3, 3, 3) and audio.shape == (2, 3)
    assert torch.allclose(visual.norm(dim=1), torch.ones(2, 3, 3)) and torch.allclose(
        audio.norm(dim=1), torch.ones(2)
    )
    maps = head(torch.randn(2, 6, 3, 3), torch.randn(2, 4))
    assert maps.shape == (2, 3, 3) and maps.abs().max() <= 1 + 1e-6
    with pytest.raises(ValueError):
        AudioVisualSimilarity(6, 4, embed_dim=None)  # widths differ and nothing projects them


def test_time_reduction_audio_pooling_and_frame_selection() -> None:
    feats = torch.randn(2, 3, 5, 4, 4)
    assert torch.equal(reduce_time(feats, "middle"), feats[:, :, 2])
    assert torch.allclose(reduce_time(feats, "mean"), feats.mean(2))
    assert torch.equal(reduce_time(feats[:, :, 0], "mean"), feats[:, :, 0])
    audio = torch.randn(2, 3, 4, 6)
    assert torch.equal(pool_audio(audio, "max"), audio.amax(dim=(2, 3)))
    assert torch.allclose(pool_audio(audio, "mean"), audio.mean(dim=(2, 3)))
    video = torch.randn(2, 3, 3, 8, 8)
    assert torch.equal(select_frames(video, "middle"), video[:, :, 1])
    assert select_frames(video, "mean") is video


# ---------------------------------------------------------------- SSL-TIE equivariance term


def _pixelwise_linear_task() -> SSLTIE:
    """SSL-TIE whose visual map is a per-pixel linear function of the frame: exactly equivariant."""
    geometry = GeometryConfig(crop_prob=1.0, hflip_prob=0.5, max_rotation=30.0)
    task = SSLTIE(SSLTIEConfig(**_small(use_invariance=False, geometry=geometry)))
    task.pixelwise = nn.Conv2d(3, task.head.out_dim, kernel_size=1)
    # an instance attribute shadows the method: (B, 3, H, W) -> (B, D, H, W), the frame's resolution
    task.visual_maps = lambda frames: task.pixelwise(frames)
    return task


def test_equivariance_term_is_zero_for_an_equivariant_model() -> None:
    torch.manual_seed(0)
    task = _pixelwise_linear_task()
    out = task(_batch(size=32))
    assert task.localize(_batch(size=32)).shape == (4, 32, 32)  # the patched map is in use
    assert out.logs["loss/equivariance"].item() < 1e-6


def test_equivariance_term_detects_untransformed_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    task = _pixelwise_linear_task()
    monkeypatch.setattr(ssl_tie, "apply_geometry_to_maps", lambda records, maps, out_size=None: maps)
    assert task(_batch(size=32)).logs["loss/equivariance"].item() > 1e-2


def test_equivariance_term_needs_the_valid_mask() -> None:
    torch.manual_seed(0)
    task = _pixelwise_linear_task()
    task.cfg.equivariance_valid_only = False  # the filled corners now count: map(fill) != 0
    assert task(_batch(size=32)).logs["loss/equivariance"].item() > 1e-4


# ---------------------------------------------------------------- tasks


@pytest.mark.parametrize("name", ["lvs", "ezvsl", "ssl_tie"])
def test_task_smoke(name: str) -> None:
    task = _build(name)
    batch = _batch()
    _check_step(task, batch)
    task.eval()
    with torch.no_grad():
        maps = task.localize(batch)
        video, audio = task.embed(batch, "video"), task.embed(batch, "audio")
    assert maps.shape == (4, 4, 4) and torch.isfinite(maps).all()
    assert video.shape == audio.shape == (4, task.head.out_dim)
    assert torch.allclose(video.norm(dim=1), torch.ones(4)) and torch.allclose(
        audio.norm(dim=1), torch.ones(4)
    )


@pytest.mark.parametrize("mode", ["middle", "mean"])
def test_multi_frame_clips(mode: str) -> None:
    task = _build("ssl_tie", frames=mode)
    _check_step(task, _batch(b=2, frames=3))
    assert task.localize(_batch(b=2, frames=3)).shape == (2, 4, 4)


@pytest.mark.parametrize("equivariance,invariance", list(itertools.product([True, False], repeat=2)))
def test_ssl_tie_ablation_switches(equivariance: bool, invariance: bool) -> None:
    task = _build(
        "ssl_tie", use_equivariance=equivariance, use_invariance=invariance, feature_consistency_weight=0.5
    )
    out = _check_step(task, _batch())
    two_views = equivariance or invariance
    assert ("loss/contrastive_view2" in out) == two_views
    assert ("loss/equivariance" in out) == equivariance
    assert ("loss/feature_consistency" in out) == invariance
    if not two_views:
        assert torch.allclose(out["loss"], out["loss/contrastive"])


def test_ssl_tie_unmasked_equivariance_and_l1() -> None:
    _check_step(_build("ssl_tie", equivariance_valid_only=False, equivariance_distance="l1"), _batch())


@pytest.mark.parametrize("trimap,hard", list(itertools.product([True, False], repeat=2)))
def test_lvs_loss_switches(trimap: bool, hard: bool) -> None:
    _check_step(_build("lvs", loss=TriMapConfig(trimap=trimap, hard_negatives=hard)), _batch())


def test_ezvsl_object_guided_localization() -> None:
    batch = _batch()
    task = _build("ezvsl", ogl_alpha=1.0).eval()
    size = (224, 224)
    with torch.no_grad():
        av = F.interpolate(task.localize(batch)[:, None], size=size, mode="bilinear", align_corners=True)[
            :, 0
        ]
        assert torch.allclose(task.localize(batch, ogl=True), minmax(av), atol=1e-6)
        task.ogl_alpha = 0.0
        prior = object_saliency(task.visual_features(task.frames(batch)))
        prior = F.interpolate(prior[:, None], size=size, mode="bilinear", align_corners=True)[:, 0]
        blended = task.localize(batch, ogl=True)
    assert torch.allclose(blended, minmax(prior), atol=1e-6)
    assert blended.amin() >= 0 and blended.amax() <= 1 + 1e-6
    assert torch.equal(minmax(torch.ones(1, 2, 2)), torch.ones(1, 2, 2))  # as the released normalize_img


def test_ezvsl_separate_ogl_encoder_stays_frozen() -> None:
    task = _build("ezvsl", ogl_encoder=Visual2dConfig(name="small", output_stride=16)).train()
    assert not task.ogl_encoder.training
    _check_step(task, _batch())
    assert all(p.grad is None and not p.requires_grad for p in task.ogl_encoder.parameters())
    assert task.localize(_batch(), ogl=True).shape == (4, 224, 224)


def test_resnet18_encoders_once() -> None:
    torch.manual_seed(0)
    task = SSLTIE(SSLTIEConfig())  # ResNet-18 for both streams at output stride 16
    batch = _batch(b=2)
    _check_step(task, batch)
    assert task.localize(batch).shape == (2, 4, 4)  # 64 px / 16


@pytest.mark.parametrize("config_cls", [LVSConfig, EZVSLConfig, SSLTIEConfig])
def test_configs_round_trip_through_the_config_system(config_cls: type) -> None:
    cfg = config_cls()
    assert from_dict(config_cls, to_dict(cfg)) == cfg
    patched = from_dict(config_cls, {"visual": {"name": "small"}, "embed_dim": None})
    assert patched.visual.name == "small" and patched.embed_dim is None


def test_ssl_tie_config_nested_fields() -> None:
    cfg = from_dict(SSLTIEConfig, {"geometry": {"crop_side": [0.6, 0.9]}, "use_invariance": "false"})
    assert cfg.geometry.crop_side == (0.6, 0.9) and cfg.use_invariance is False
    ez = from_dict(EZVSLConfig, {"ogl_encoder": {"name": "resnet18"}})
    assert ez.ogl_encoder == Visual2dConfig(name="resnet18")
