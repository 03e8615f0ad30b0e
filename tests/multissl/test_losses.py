"""Multi-SSL losses against naive references written from the formulas (loops over rows and classes)."""

from __future__ import annotations

import math

import torch

from avssl.losses.distill import FeatureDistillation, OutputDistillation
from avssl.losses.multitask import UncertaintyWeighting, weighted_sum


def test_output_distillation_matches_a_loop_over_rows_and_classes() -> None:
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g) * 2
    t = 3.0
    total = 0.0
    for b in range(5):
        zs = [math.exp(v / t) for v in student[b].tolist()]
        zt = [math.exp(v / t) for v in teacher[b].tolist()]
        ps = [z / sum(zs) for z in zs]
        pt = [z / sum(zt) for z in zt]
        total += sum(pt[c] * math.log(pt[c] / ps[c]) for c in range(4))
    expected = t * t * total / 5
    assert abs(float(OutputDistillation(t)(student, teacher)) - expected) < 1e-5


def test_output_distillation_is_zero_for_equal_logits_and_only_the_student_gets_gradient() -> None:
    student = torch.randn(3, 6, requires_grad=True)
    teacher = student.detach().clone().requires_grad_()
    loss = OutputDistillation(2.0)(student, teacher)
    assert abs(float(loss.detach())) < 1e-6
    (loss + OutputDistillation(2.0)(student, teacher * 2)).backward()
    assert student.grad is not None and teacher.grad is None


def test_feature_distillation_matches_a_loop() -> None:
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(4, 7, generator=g), torch.randn(4, 7, generator=g)
    expected = 0.0
    for b in range(4):
        dot = sum(x * y for x, y in zip(s[b].tolist(), t[b].tolist()))
        ns = math.sqrt(sum(x * x for x in s[b].tolist()))
        nt = math.sqrt(sum(y * y for y in t[b].tolist()))
        expected += 1 - dot / (ns * nt)
    assert abs(float(FeatureDistillation()(s, t)) - expected / 4) < 1e-5
    assert float(FeatureDistillation()(s, 3 * s)) < 1e-6


def test_uncertainty_weighting_matches_the_formula_and_learns_to_downweight() -> None:
    weighting = UncertaintyWeighting(["a", "b", "c"])
    with torch.no_grad():
        weighting.log_vars["a"].fill_(0.5)
        weighting.log_vars["b"].fill_(-1.0)
    losses = {"a": torch.tensor(2.0), "b": torch.tensor(0.3)}
    expected = math.exp(-0.5) * 2.0 + 0.5 + math.exp(1.0) * 0.3 - 1.0
    assert abs(float(weighting(losses).detach()) - expected) < 1e-6
    # the optimum of exp(-s)·L + s is s = log L: a large loss gets a large variance (small weight)
    opt = torch.optim.SGD(weighting.parameters(), lr=0.1)
    for _ in range(500):
        opt.zero_grad()
        weighting({"a": torch.tensor(4.0), "b": torch.tensor(0.25)}).backward()
        opt.step()
    assert abs(float(weighting.log_vars["a"].detach()) - math.log(4.0)) < 1e-2
    assert abs(float(weighting.log_vars["b"].detach()) - math.log(0.25)) < 1e-2
    assert float(weighting.log_vars["c"].detach()) == 0.0  # absent task: untouched


def test_weighted_sum_defaults_missing_weights_to_one() -> None:
    losses = {"a": torch.tensor(2.0), "b": torch.tensor(3.0)}
    assert float(weighted_sum(losses, {"a": 0.5})) == 4.0
