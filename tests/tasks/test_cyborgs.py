"""The CYBORGS task (`avssl.tasks.cyborgs`): the refresh schedule, the segment bank (superpixels first,
then the momentum network's segments, each image once per round, deterministic), masks that follow the
views' geometry, the bank in the state dict (restored into a model built without it), and clear errors."""

from __future__ import annotations

import copy

import pytest
import torch

from avssl.tasks.cyborgs import CYBORGS, CYBORGSConfig
from avssl.transforms.functional.geometry import GeometryRecord, HFlip, ResizedCrop

SMALL = {"hidden_dim": 32, "embed_dim": 16, "mask_size": 32, "clusters": 3, "max_segments": 8}


def _task(**overrides) -> CYBORGS:
    torch.manual_seed(0)
    return CYBORGS(CYBORGSConfig(**{**SMALL, **overrides}))


def _batch(index=(0, 1, 2, 3), size: int = 32) -> dict:
    g = torch.Generator().manual_seed(0)
    whole = torch.randn(len(index), 3, 1, size, size, generator=g)
    whole[:, :, :, 8:24, 8:24] += 2.0  # an object
    crop = ResizedCrop(0.0, 0.0, 0.75, 0.75)
    views = [
        {"video": whole, "geometry": [[] for _ in index]},
        {"video": torch.flip(whole, dims=[-1]), "geometry": [[GeometryRecord(HFlip(), (size, size), (size, size))] for _ in index]},
        {"video": whole, "geometry": [[] for _ in index]},
    ]  # fmt: skip
    views[0]["geometry"][0] = [GeometryRecord(crop, (size, size), (size, size))]
    return {"views": views, "index": torch.tensor(index)}


def test_refresh_rounds_follow_the_schedule() -> None:
    task = _task(bootstrap_start=10, refresh_every=5)
    assert [task.round_at(s) for s in (0, 9, 10, 14, 15, 20)] == [0, 0, 1, 1, 2, 3]
    with pytest.raises(ValueError, match="refresh_every"):
        CYBORGSConfig(refresh_every=0)
    with pytest.raises(ValueError, match="clusters"):
        CYBORGSConfig(clusters=1)


def test_bank_starts_with_superpixels_then_bootstraps_once_per_round() -> None:
    task = _task(bootstrap_start=2, refresh_every=3)
    batch = _batch()
    out = task(batch)
    assert out.logs["masks/new"] == 4.0 and out.logs["masks/round"] == 0.0
    assert task.bank.shape == (4, 32, 32) and task.bank_round.tolist() == [0, 0, 0, 0]
    whole = batch["views"][2]["video"][:, :, 0]
    assert torch.equal(task.bank, task.superpixels(whole))
    assert task(batch).logs["masks/new"] == 0.0  # same round: nothing made again
    task.on_step_end(2, 10)  # round 1: the momentum network's segments (in eval mode: its EMA statistics)
    before = copy.deepcopy(task)  # the key network as the bank saw it (the step's key pass moves its stats)
    assert task(batch).logs["masks/new"] == 4.0 and task.bank_round.tolist() == [1, 1, 1, 1]
    expected = before.segment_images(whole, torch.arange(4) * 1009 + 1)
    assert torch.equal(task.bank, expected)
    assert task(_batch(index=(5, 6, 7, 8))).logs["masks/new"] == 4.0  # grown on demand
    assert task.bank.shape[0] == 9 and task.bank_round[4] == -1


def test_view_masks_follow_the_geometry() -> None:
    task = _task()
    labels = torch.zeros(1, 32, 32, dtype=torch.uint8)
    labels[0, :, :8] = 1  # the image's left quarter
    flip = {"video": torch.zeros(1, 3, 32, 32), "geometry": [[GeometryRecord(HFlip(), (32, 32), (32, 32))]]}
    masks = task.view_masks(labels, flip, (4, 4))
    assert masks.shape == (1, 8, 4, 4)
    assert torch.allclose(masks[0, 1, :, 3], torch.ones(4)) and masks[0, 1, :, :3].sum() == 0  # mirrored
    crop = ResizedCrop(0.0, 0.0, 1.0, 0.5)  # the left half, stretched: the segment becomes its left half
    view = {"video": torch.zeros(1, 3, 32, 32), "geometry": [[GeometryRecord(crop, (32, 32), (32, 32))]]}
    masks = task.view_masks(labels, view, (4, 4))
    # bilinear sampling of the one-hot labels: a border cell keeps 97 % (a pixel column straddles the edge)
    assert torch.allclose(masks[0, 1, :, :2], torch.ones(4, 2), atol=0.05) and masks[0, 1, :, 2:].sum() < 0.2
    assert torch.allclose(masks.sum(1), torch.ones(1, 4, 4), atol=1e-5)  # a partition of the view


def test_state_dict_carries_the_bank_into_a_fresh_model() -> None:
    task = _task(bootstrap_start=0)
    task(_batch())
    fresh = _task(bootstrap_start=0)  # bank_images 0: an empty bank
    fresh.load_state_dict(task.state_dict())
    assert torch.equal(fresh.bank, task.bank) and torch.equal(fresh.bank_round, task.bank_round)
    assert fresh(_batch()).logs["masks/new"] == 0.0  # nothing to remake after a restore


def test_loss_backpropagates_and_errors_name_the_missing_views() -> None:
    task = _task()
    out = task(_batch())
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert any(p.grad is not None for p in task.backbone.parameters())
    with pytest.raises(ValueError, match="view 2"):
        task({"views": _batch()["views"][:2], "index": torch.arange(4)})
    emb = task.embed({"video": torch.randn(2, 3, 1, 32, 32)}, "video")
    assert emb.shape[0] == 2 and torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)
