"""LARS and the learning-rate schedules against their formulas written out naively (plain floats, loops)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from avssl.train.config import OptimConfig, ScheduleConfig
from avssl.train.optim import build_optimizer
from avssl.train.schedules import build_scheduler, lr_multiplier


def _norm(xs: list[float]) -> float:
    return math.sqrt(sum(x * x for x in xs))


def naive_lars(weights, grads_per_step, lr, momentum, weight_decay, eta, excluded):
    """You et al. 2017 for one flat parameter: g' = g + λw, local = η‖w‖/‖g'‖ (1 if a norm is 0),
    v ← μv + local·g' (v = local·g' at the first step), w ← w − lr·v; `excluded`: g' = g, local = 1."""
    w, v = list(weights), None
    for grads in grads_per_step:
        if excluded:
            update = list(grads)
        else:
            decayed = [g + weight_decay * x for g, x in zip(grads, w)]
            wn, gn = _norm(w), _norm(decayed)
            local = eta * wn / gn if wn > 0 and gn > 0 else 1.0
            update = [local * g for g in decayed]
        v = update if v is None else [momentum * a + b for a, b in zip(v, update)]
        w = [x - lr * a for x, a in zip(w, v)]
    return w


def test_lars_matches_the_formula_for_weights_and_excluded_biases() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(3, 2)
    start = {n: p.detach().clone() for n, p in layer.named_parameters()}
    cfg = OptimConfig(name="lars", lr=0.5, weight_decay=0.1, momentum=0.9, lars_eta=0.02)
    optimizer = build_optimizer(layer, cfg)
    g = torch.Generator().manual_seed(1)
    grads = [{n: torch.randn(p.shape, generator=g) for n, p in layer.named_parameters()} for _ in range(3)]
    for step in grads:
        for n, p in layer.named_parameters():
            p.grad = step[n].clone()
        optimizer.step()
    for name, excluded in (("weight", False), ("bias", True)):
        want = naive_lars(
            start[name].flatten().tolist(),
            [s[name].flatten().tolist() for s in grads],
            cfg.lr,
            cfg.momentum,
            cfg.weight_decay,
            cfg.lars_eta,
            excluded,
        )
        got = dict(layer.named_parameters())[name].detach().flatten().tolist()
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6), name


def test_lars_trust_ratio_is_one_for_a_zero_weight() -> None:
    p = nn.Parameter(torch.zeros(2, 2))
    optimizer = build_optimizer(nn.ParameterList([p]), OptimConfig(name="lars", lr=1.0, weight_decay=0.0))
    p.grad = torch.full((2, 2), 0.25)
    optimizer.step()
    assert torch.allclose(p.detach(), torch.full((2, 2), -0.25))


def naive_multiplier(step: int, max_steps: int, warmup: int, min_ratio: float, cosine: bool) -> float:
    """Warmup (step + 1) / warmup for step < warmup; then constant 1, or
    min + (1 − min)·½(1 + cos(π·min(1, (step − warmup) / max(1, max_steps − warmup))))."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if not cosine:
        return 1.0
    t = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


@pytest.mark.parametrize("name", ["cosine", "constant"])
@pytest.mark.parametrize("warmup,min_ratio", [(0, 0.0), (3, 0.1), (10, 0.05)])
def test_schedule_multipliers_match_the_formula(name: str, warmup: int, min_ratio: float) -> None:
    cfg = ScheduleConfig(name=name, warmup_steps=warmup, min_lr_ratio=min_ratio)
    for step in range(0, 14):
        want = naive_multiplier(step, 12, warmup, min_ratio, name == "cosine")
        assert lr_multiplier(step, 12, cfg) == pytest.approx(want, abs=1e-12), step


def test_scheduler_gives_the_lr_of_each_step() -> None:
    """The lr the loop reads after `scheduler.step()` k times is base·multiplier(k); cosine ends at min."""
    cfg = ScheduleConfig(name="cosine", warmup_steps=2, min_lr_ratio=0.1)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.4)
    scheduler = build_scheduler(optimizer, 8, cfg)
    seen = [scheduler.get_last_lr()[0]]
    for _ in range(8):
        optimizer.step()
        scheduler.step()
        seen.append(scheduler.get_last_lr()[0])
    assert seen == pytest.approx([0.4 * naive_multiplier(k, 8, 2, 0.1, True) for k in range(9)])
    assert seen[0] == pytest.approx(0.2) and seen[-1] == pytest.approx(0.04)
