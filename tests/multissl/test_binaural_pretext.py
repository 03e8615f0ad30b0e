"""The binaural pretext tasks: plans are deterministic from the generator, labels mean what they say
(swapped ears / mirrored frames, shifted audio at least the minimum shift away, gaps inside their bin),
and the heads see exactly the frames and samples the plan names."""

from __future__ import annotations

import pytest
import torch

from avssl.tasks.binaural_pretext import (
    ClipGeometry,
    PretextConfig,
    SpatialAlignment,
    TemporalGap,
    TemporalSync,
    audio_at,
    frames_at,
)

B, T, S, SR = 64, 16, 64000, 16000


def _batch() -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "video": torch.randn(B, 3, T, 8, 8, generator=g),
        "audio": torch.randn(B, 2, S, generator=g),
        "sample_rate": SR,
    }


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_slicing_helpers_pick_the_named_frames_and_samples() -> None:
    batch = _batch()
    start = torch.arange(B) % (T - 2)
    clip = frames_at(batch["video"], start, 2)
    assert clip.shape == (B, 3, 2, 8, 8)
    for b in (0, 5, 33):
        assert torch.equal(clip[b, :, 1], batch["video"][b, :, start[b] + 1])
    assert torch.equal(frames_at(batch["video"], start, 1)[7], batch["video"][7, :, start[7]])
    offsets = torch.arange(B) * 100
    window = audio_at(batch["audio"], offsets, 50)
    assert torch.equal(window[9], batch["audio"][9, :, 900:950])


@pytest.mark.parametrize("cls", [SpatialAlignment, TemporalSync, TemporalGap])
def test_plans_are_deterministic_and_balanced(cls) -> None:
    pretext = cls(PretextConfig(), 16, 16)
    a, b = pretext.plan(_batch(), _gen(3)), pretext.plan(_batch(), _gen(3))
    assert all(torch.equal(a[k], b[k]) for k in a)
    counts = torch.bincount(
        pretext.plan(
            {**_batch(), "video": torch.zeros(2000, 3, T, 1, 1), "audio": torch.zeros(2000, 2, S)}, _gen(4)
        )["label"]
    )
    assert len(counts) == pretext.num_classes
    assert counts.min() > 2000 / pretext.num_classes * 0.85  # uniform labels: chance is 1 / classes


def test_spatial_negatives_are_swaps_or_flips_only_for_label_one() -> None:
    plan = SpatialAlignment(PretextConfig(), 16, 16).plan(_batch(), _gen())
    negative = plan["label"] == 1
    assert torch.equal(plan["flip"] | plan["swap"], negative)
    assert not (plan["flip"] & plan["swap"]).any()
    assert plan["flip"].any() and plan["swap"].any()
    only_swap = SpatialAlignment(PretextConfig(negatives=["swap"]), 16, 16).plan(_batch(), _gen())
    assert not only_swap["flip"].any()


def test_spatial_head_sees_swapped_ears_and_mirrored_frames() -> None:
    seen = {}
    encoders = torch.nn.ModuleDict(
        {"visual": _Recorder(seen, "visual", 16), "audio": _Recorder(seen, "audio", 16)}
    )
    pretext = SpatialAlignment(PretextConfig(), 16, 16)
    batch = _batch()
    plan = pretext.plan(batch, _gen())
    pretext(encoders, batch, plan)
    geo = ClipGeometry(batch, pretext.cfg)
    for b in range(B):
        frame = batch["video"][b, :, plan["frame"][b]]
        expected = frame.flip(-1) if plan["flip"][b] else frame
        assert torch.equal(seen["visual"][b], expected)
        start = int(geo.audio_start(plan["frame"][b : b + 1])[0])
        audio = batch["audio"][b, :, start : start + geo.audio_len]
        assert torch.equal(seen["audio"][b], audio.flip(0) if plan["swap"][b] else audio)


def test_sync_negatives_are_shifted_by_at_least_the_minimum_within_the_clip() -> None:
    cfg = PretextConfig(sync_min_shift_s=1.0)
    pretext = TemporalSync(cfg, 16, 16)
    batch = _batch()
    plan = pretext.plan(batch, _gen())
    geo = ClipGeometry(batch, cfg)
    own = geo.audio_start(plan["frame"])
    rows = torch.arange(B)
    synced, shifted = plan["audio_start"][rows, 1 - plan["label"]], plan["audio_start"][rows, plan["label"]]
    assert torch.equal(synced, own)
    assert ((shifted - own).abs() >= SR).all()
    assert (plan["audio_start"] >= 0).all() and (plan["audio_start"] <= S - geo.audio_len).all()
    with pytest.raises(ValueError, match="sync_min_shift_s"):
        TemporalSync(PretextConfig(sync_min_shift_s=3.5), 16, 16).plan(batch, _gen())


def test_gap_plans_fall_inside_their_bins_in_both_orders() -> None:
    cfg = PretextConfig(gap_bins=[[1, 2], [4, 6], [8, 11]])
    plan = TemporalGap(cfg, 16, 16).plan(_batch(), _gen())
    gap = (plan["frame_a"] - plan["frame_b"]).abs()
    bins = torch.tensor(cfg.gap_bins)[plan["label"]]
    assert ((gap >= bins[:, 0]) & (gap <= bins[:, 1])).all()
    assert (plan["frame_a"] < plan["frame_b"]).any() and (plan["frame_a"] > plan["frame_b"]).any()
    assert (torch.maximum(plan["frame_a"], plan["frame_b"]) <= T - 1).all()
    with pytest.raises(ValueError, match="do not fit"):
        TemporalGap(PretextConfig(gap_bins=[[1, 16]]), 16, 16).plan(_batch(), _gen())


class _Recorder(torch.nn.Module):
    """Records its input and returns a (B, D, 1, 1) map."""

    def __init__(self, seen: dict, key: str, dim: int):
        super().__init__()
        self.seen, self.key, self.out_dim = seen, key, dim
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen[self.key] = x.detach().clone()
        return self.scale * torch.ones(x.shape[0], self.out_dim, 1, 1)
