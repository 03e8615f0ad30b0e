"""HCL's hyperbolic scene–object loss and the combined objective against naive per-sample loops."""

from __future__ import annotations

import math

import pytest
import torch

from avssl.losses.hcl import HCLLoss, hyperbolic_scene_object_loss
from tests.losses.test_moco import naive_moco
from tests.modules.test_hyperbolic import _points, arcosh_distance

C = 0.05


def naive_hyperbolic(scenes, objects, owner, c, tau, scene_ids=None, valid=None) -> float:
    """Per scene i: mean over its objects p of −log(e^{ℓip} / (e^{ℓip} + Σ_{n of other scenes} e^{ℓin})),
    ℓ = −d_c / τ with d_c the float64 arcosh form; mean over scenes with objects."""
    ids = list(range(len(scenes))) if scene_ids is None else [int(s) for s in scene_ids]
    use = [True] * len(objects) if valid is None else [bool(v) for v in valid]
    losses = []
    for i, sid in enumerate(ids):
        logit = [-float(arcosh_distance(scenes[i], objects[m], c)) / tau for m in range(len(objects))]
        pos = [m for m in range(len(objects)) if use[m] and int(owner[m]) == sid]
        neg = [m for m in range(len(objects)) if use[m] and int(owner[m]) != sid]
        if not pos:
            continue
        terms = []
        for p in pos:
            denominator = math.exp(logit[p]) + sum(math.exp(logit[n]) for n in neg)
            terms.append(-math.log(math.exp(logit[p]) / denominator))
        losses.append(sum(terms) / len(terms))
    return sum(losses) / len(losses)


def test_hyperbolic_loss_matches_the_loop() -> None:
    scenes, objects = _points(4, seed=1), _points(9, seed=2)
    owner = torch.tensor([0, 0, 1, 2, 2, 2, -1, -1, 1])
    got = hyperbolic_scene_object_loss(scenes, objects, owner, C, 0.5)
    assert got.item() == pytest.approx(naive_hyperbolic(scenes, objects, owner, C, 0.5), rel=1e-9)


def test_scene_ids_and_padding_slots() -> None:
    """Global scene ids (this rank's scenes 3, 4 against every rank's objects); invalid slots ignored; a
    scene without objects left out of the mean."""
    scenes, objects = _points(3, seed=3), _points(8, seed=4)
    owner = torch.tensor([3, 3, 4, 0, 1, 1, 2, 4])
    valid = torch.tensor([True, False, True, True, True, True, False, True])
    ids = torch.tensor([3, 4, 9])
    got = hyperbolic_scene_object_loss(scenes, objects, owner, C, 0.3, ids, valid)
    assert got.item() == pytest.approx(naive_hyperbolic(scenes, objects, owner, C, 0.3, ids, valid), rel=1e-9)


def test_near_objects_give_a_lower_loss_and_gradients_flow() -> None:
    scenes = _points(3, seed=5).float().requires_grad_()
    objects = (scenes.detach().repeat_interleave(2, 0) + 0.05).requires_grad_()
    owner = torch.arange(3).repeat_interleave(2)
    near = hyperbolic_scene_object_loss(scenes, objects, owner, C, 0.2)
    far = hyperbolic_scene_object_loss(scenes, objects, owner.roll(2), C, 0.2)
    assert near < far
    near.backward()
    assert torch.isfinite(scenes.grad).all() and torch.isfinite(objects.grad).all()


def test_hcl_objective_is_moco_plus_weighted_hyperbolic() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, queue = (torch.randn(n, 5, generator=g, dtype=torch.float64) for n in (6, 6, 11))
    scenes, objects = _points(3, seed=6), _points(6, seed=7)
    owner = torch.tensor([0, 1, 1, 2, 2, 2])
    loss, parts = HCLLoss(temperature=0.2, curvature=C, hyp_temperature=0.1, weight=0.1)(
        q, k, queue, scenes, objects, owner
    )
    euclidean = naive_moco(q.numpy(), k.numpy(), queue.numpy(), 0.2)
    hyperbolic = naive_hyperbolic(scenes, objects, owner, C, 0.1)
    assert parts["euclidean"].item() == pytest.approx(euclidean, rel=1e-9)
    assert parts["hyperbolic"].item() == pytest.approx(hyperbolic, rel=1e-9)
    assert loss.item() == pytest.approx(euclidean + 0.1 * hyperbolic, rel=1e-9)
    with pytest.raises(ValueError, match="curvature"):
        HCLLoss(curvature=0.0)
