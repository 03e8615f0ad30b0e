"""The localization losses against naive loop references written from the papers' formulas, and across
2 processes (gloo) against one process on the whole batch."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from avssl import distributed
from avssl.losses.equivariance import MapEquivarianceLoss
from avssl.losses.mil_infonce import MaxMILInfoNCE
from avssl.losses.trimap import TriMapContrastiveLoss
from avssl.testing import run_gloo_ranks


def _unit(x: list[float]) -> list[float]:
    norm = math.sqrt(sum(c * c for c in x))
    return [c / norm for c in x]


def _dot(x: list[float], y: list[float]) -> float:
    return sum(p * q for p, q in zip(x, y))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _location(v: Tensor, i: int, y: int, x: int) -> list[float]:
    return _unit(v[i, :, y, x].tolist())


def _cross_entropy(logits: list[float], target: int) -> float:
    top = max(logits)
    return -(logits[target] - top - math.log(sum(math.exp(z - top) for z in logits)))


def naive_trimap(v: Tensor, a: Tensor, eps_p, eps_n, tau_m, tau, trimap, hard) -> float:
    """LVS: for each image i, the pooled positive-region score with every audio j, plus its background."""
    batch, _, h, w = v.shape
    total = 0.0
    for i in range(batch):
        logits = []
        for j in range(batch):
            audio = _unit(a[j].tolist())
            num = den = 0.0
            for y in range(h):
                for x in range(w):
                    s = _dot(_location(v, i, y, x), audio)
                    m = _sigmoid((s - eps_p) / tau_m)
                    num, den = num + m * s, den + m
            logits.append(num / den / tau)
        if hard:
            audio = _unit(a[i].tolist())
            num = den = 0.0
            for y in range(h):
                for x in range(w):
                    s = _dot(_location(v, i, y, x), audio)
                    m = 1.0 - _sigmoid((s - (eps_n if trimap else eps_p)) / tau_m)
                    num, den = num + m * s, den + m
            logits.append(num / den / tau)
        total += _cross_entropy(logits, i)
    return total / batch


def naive_max_mil(v: Tensor, a: Tensor, tau: float) -> float:
    """EZ-VSL: s_ij = max over locations of the cosine of image i and audio j; CE both ways, summed."""
    batch, _, h, w = v.shape
    s = [
        [
            max(_dot(_location(v, i, y, x), _unit(a[j].tolist())) for y in range(h) for x in range(w))
            for j in range(batch)
        ]
        for i in range(batch)
    ]
    v_to_a = sum(_cross_entropy([s[i][j] / tau for j in range(batch)], i) for i in range(batch)) / batch
    a_to_v = sum(_cross_entropy([s[j][i] / tau for j in range(batch)], i) for i in range(batch)) / batch
    return v_to_a + a_to_v


def _inputs(seed: int, batch: int = 3, dim: int = 4, h: int = 3, w: int = 2) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    audio = torch.randn(batch, dim, generator=g, dtype=torch.float64)
    # visual locations near their own audio direction so the positive region is non-trivial
    visual = audio[:, :, None, None] + 0.8 * torch.randn(batch, dim, h, w, generator=g, dtype=torch.float64)
    return visual, audio


TRIMAP_CASES = [
    dict(eps_p=0.65, eps_n=0.4, tau_m=0.03, tau=0.07, trimap=True, hard=True),  # LVS defaults
    dict(eps_p=0.5, eps_n=0.1, tau_m=0.1, tau=0.2, trimap=True, hard=True),
    dict(eps_p=0.65, eps_n=0.4, tau_m=0.05, tau=0.07, trimap=False, hard=True),
    dict(eps_p=0.65, eps_n=0.4, tau_m=0.03, tau=0.07, trimap=True, hard=False),
]


@pytest.mark.parametrize("case", TRIMAP_CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_trimap_matches_naive_loops(case: dict, seed: int) -> None:
    visual, audio = _inputs(seed)
    loss = TriMapContrastiveLoss(
        case["eps_p"], case["eps_n"], case["tau_m"], case["tau"], case["trimap"], case["hard"]
    )
    got = loss(visual, audio).item()
    want = naive_trimap(visual, audio, *case.values())
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_trimap_regions_and_positive_column() -> None:
    """A location aligned with the audio is in the positive region; the positive is the own audio."""
    loss = TriMapContrastiveLoss()
    maps = torch.full((2, 2, 2, 2), -0.5, dtype=torch.float64)
    maps[0, 0, 0, 0] = maps[1, 1, 1, 1] = 0.95  # each image's own audio lights one location
    logits = loss.logits(maps, torch.tensor([0, 1]))
    assert logits.shape == (2, 3)
    assert logits[0, 0] == pytest.approx(0.95 / 0.07, rel=1e-3)  # positive: the bright pixel only
    assert logits[0, 1] == pytest.approx(-0.5 / 0.07, rel=1e-9)  # easy negative: uniform map
    assert logits[0, 2] == pytest.approx(-0.5 / 0.07, rel=1e-3)  # hard negative: the background
    assert loss(torch.randn(2, 3, 2, 2), torch.randn(2, 3)).item() > 0
    # a region whose sigmoid underflows everywhere (float32, very sharp mask) still gets its exact mean
    sharp = TriMapContrastiveLoss(mask_temperature=1e-3).logits(maps.float(), torch.tensor([0, 1]))
    assert torch.isfinite(sharp).all() and sharp[0, 1].item() == pytest.approx(-0.5 / 0.07, rel=1e-6)


def test_trimap_gradcheck() -> None:
    visual, audio = _inputs(3, batch=2, dim=3, h=2, w=2)
    loss = TriMapContrastiveLoss(mask_temperature=0.2, temperature=0.5)
    assert torch.autograd.gradcheck(loss, (visual.requires_grad_(), audio.requires_grad_()))


@pytest.mark.parametrize("tau", [0.03, 0.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_max_mil_infonce_matches_naive_loops(tau: float, seed: int) -> None:
    visual, audio = _inputs(seed, batch=4, dim=5, h=2, w=3)
    got = MaxMILInfoNCE(tau)(visual, audio).item()
    assert got == pytest.approx(naive_max_mil(visual, audio, tau), rel=1e-9, abs=1e-9)


def test_max_mil_pools_by_max() -> None:
    """Duplicating or permuting locations keeps every max (and the loss); mean pooling would not."""
    visual, audio = _inputs(5, batch=3, dim=3, h=2, w=2)
    loss = MaxMILInfoNCE(0.1)
    base = loss(visual, audio).item()
    assert loss(torch.cat([visual, visual[..., :1]], dim=-1), audio).item() == pytest.approx(base, rel=1e-12)
    assert loss(visual.flip(-1, -2), audio).item() == pytest.approx(base, rel=1e-12)
    aligned = visual.clone()
    aligned[:, :, 0, 0] = audio  # every image gets a location matching its own audio exactly
    assert loss(aligned, audio).item() < base


@pytest.mark.parametrize("distance", ["mse", "l1"])
def test_equivariance_loss_matches_naive_loop(distance: str) -> None:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    valid = torch.rand(3, 4, 5, generator=g) > 0.4
    num = den = 0.0
    for b in range(3):
        for y in range(4):
            for x in range(5):
                if valid[b, y, x]:
                    d = float(pred[b, y, x]) - float(target[b, y, x])
                    num += d * d if distance == "mse" else abs(d)
                    den += 1
    loss = MapEquivarianceLoss(distance)
    assert loss(pred, target, valid).item() == pytest.approx(num / den, rel=1e-5)
    plain = (pred - target).square().mean() if distance == "mse" else (pred - target).abs().mean()
    assert loss(pred, target).item() == pytest.approx(plain.item(), rel=1e-6)
    assert loss(pred, target, torch.zeros_like(valid)).item() == 0.0  # nothing valid: 0, no NaN


def test_equivariance_loss_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError):
        MapEquivarianceLoss()(torch.zeros(2, 3, 3), torch.zeros(2, 4, 4))
    with pytest.raises(ValueError):
        MapEquivarianceLoss("huber")  # type: ignore[arg-type]


# ---------------------------------------------------------------- 2 processes vs 1 (global negatives)

WORLD, GLOBAL_BATCH, DIM_IN, DIM = 2, 6, 5, 4


def _scenario(criterion: nn.Module, part: slice) -> dict[str, Tensor]:
    torch.manual_seed(0)  # identical weights on every rank
    v_proj, a_proj = nn.Conv2d(DIM_IN, DIM, 1), nn.Linear(DIM_IN, DIM)
    g = torch.Generator().manual_seed(7)
    xv, xa = (
        torch.randn(GLOBAL_BATCH, DIM_IN, 3, 3, generator=g),
        torch.randn(GLOBAL_BATCH, DIM_IN, generator=g),
    )
    loss = criterion(v_proj(xv[part]), a_proj(xa[part]))
    loss.backward()
    grads = {
        f"grad/{n}": distributed.all_reduce_mean(p.grad)
        for n, p in [*v_proj.named_parameters(), *a_proj.named_parameters(prefix="a")]
    }
    return {"loss": distributed.all_reduce_mean(loss), **grads}


def _scenarios(world: int, rank: int) -> dict[str, dict[str, Tensor]]:
    n = GLOBAL_BATCH // world
    part = slice(rank * n, (rank + 1) * n)
    return {
        "trimap": _scenario(TriMapContrastiveLoss(mask_temperature=0.1), part),
        "max_mil": _scenario(MaxMILInfoNCE(0.1), part),
    }


def test_two_ranks_match_one_process(tmp_path: Path) -> None:
    per_rank = run_gloo_ranks(_scenarios, tmp_path, world=WORLD, timeout=120)
    single = _scenarios(world=1, rank=0)
    for got in per_rank:
        for name, want in single.items():
            assert got[name].keys() == want.keys()
            for key, value in want.items():
                assert torch.allclose(got[name][key], value, atol=1e-5, rtol=0), (name, key)
