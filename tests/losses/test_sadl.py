"""SaDL-CD's point losses (`avssl.losses.sadl`) against naive loops written from the paper's definitions
(Chen et al., IEEE TGRS 2022): per class, aligned points of the two views pulled together by the symmetric
negative cosine (2 − 2 cos) of predictions against stop-gradient projections; background / foreground
point pairs of each view pushed apart by 1 + cos; the background-swapped view's foreground points pulled
towards view 0's projections. Invalid points never count; gradients never reach the targets."""

from __future__ import annotations

import math

import pytest
import torch

from avssl.losses.sadl import fg_bg_push, point_pull, swap_pull

B, N_PER, D = 3, 4, 6


def _cos(a, b) -> float:
    a, b = [float(x) for x in a], [float(x) for x in b]
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    p = [torch.randn(B, 2 * N_PER, D, generator=g, dtype=torch.float64) for _ in range(2)]
    z = [torch.randn(B, 2 * N_PER, D, generator=g, dtype=torch.float64) for _ in range(2)]
    cls = torch.tensor([0] * N_PER + [1] * N_PER).repeat(B, 1)
    valid = torch.ones(B, 2 * N_PER, dtype=torch.bool)
    valid[1, N_PER:] = False  # image 1: no foreground in the overlap
    valid[2, 0] = False
    return p, z, cls, valid


def naive_pull(p, z, cls, valid) -> float:
    per_class = []
    for c in (0, 1):
        terms = []
        for i in range(B):
            for j in range(2 * N_PER):
                if valid[i, j] and cls[i, j] == c:
                    d01 = 2 - 2 * _cos(p[0][i, j], z[1][i, j])
                    d10 = 2 - 2 * _cos(p[1][i, j], z[0][i, j])
                    terms.append((d01 + d10) / 2)
        if terms:
            per_class.append(sum(terms) / len(terms))
    return sum(per_class) / len(per_class)


def naive_push(r, cls, valid) -> float:
    per_view = []
    for v in range(2):
        terms = []
        for i in range(B):
            bg = [j for j in range(2 * N_PER) if cls[i, j] == 0]
            fg = [j for j in range(2 * N_PER) if cls[i, j] == 1]
            for jb, jf in zip(bg, fg):
                if valid[i, jb] and valid[i, jf]:
                    terms.append(1 + _cos(r[v][i, jb], r[v][i, jf]))
        per_view.append(sum(terms) / len(terms))
    return sum(per_view) / 2


def test_pull_matches_the_loop() -> None:
    p, z, cls, valid = _inputs()
    got = point_pull(p, z, cls, valid, 2)
    assert float(got) == pytest.approx(naive_pull(p, z, cls, valid), rel=1e-10)


def test_pull_sends_no_gradient_to_the_targets_and_is_zero_for_identical_views() -> None:
    p, z, cls, valid = _inputs()
    z = [t.clone().requires_grad_(True) for t in z]
    p = [t.clone().requires_grad_(True) for t in p]
    point_pull(p, z, cls, valid, 2).backward()
    assert all(t.grad is None for t in z) and all(t.grad.abs().sum() > 0 for t in p)
    same = [p[0].detach(), p[0].detach()]
    assert float(point_pull(same, same, cls, valid, 2)) == pytest.approx(0.0, abs=1e-12)


def test_push_matches_the_loop_and_ignores_invalid_pairs() -> None:
    _, r, cls, valid = _inputs(1)
    got = fg_bg_push(r, cls, valid)
    assert float(got) == pytest.approx(naive_push(r, cls, valid), rel=1e-10)
    r2 = [t.clone() for t in r]
    r2[0][1, N_PER:] = 100.0  # image 1's foreground points are invalid: changing them changes nothing
    assert float(fg_bg_push(r2, cls, valid)) == pytest.approx(float(got), rel=1e-12)


def test_push_is_zero_for_opposite_and_two_for_equal_features() -> None:
    _, r, cls, _ = _inputs(2)
    valid = torch.ones_like(cls, dtype=torch.bool)
    opposite = [torch.cat([t[:, :N_PER], -t[:, :N_PER]], 1) for t in r]
    equal = [torch.cat([t[:, :N_PER], t[:, :N_PER]], 1) for t in r]
    assert float(fg_bg_push(opposite, cls, valid)) == pytest.approx(0.0, abs=1e-12)
    assert float(fg_bg_push(equal, cls, valid)) == pytest.approx(2.0, abs=1e-12)


def test_swap_matches_the_loop_over_valid_foreground_points() -> None:
    p, z, cls, valid = _inputs(3)
    terms = [
        2 - 2 * _cos(p[0][i, j], z[0][i, j])
        for i in range(B)
        for j in range(2 * N_PER)
        if valid[i, j] and cls[i, j] == 1
    ]
    got = swap_pull(p[0], z[0], cls, valid)
    assert float(got) == pytest.approx(sum(terms) / len(terms), rel=1e-10)
