"""Dynamic time warping against the textbook dynamic program (a double loop over the recurrence of Sakoe &
Chiba 1978) and against brute force over every monotone path on small matrices."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from avssl.modules.dtw import aligned_positions, dtw_accumulated, dtw_path


def textbook_dtw(cost: list[list[float]]) -> list[list[float]]:
    n, m = len(cost), len(cost[0])
    acc = [[math.inf] * m for _ in range(n)]
    for i in range(n):
        for j in range(m):
            if i == 0 and j == 0:
                acc[i][j] = cost[0][0]
                continue
            prev = min(
                acc[i - 1][j] if i > 0 else math.inf,
                acc[i][j - 1] if j > 0 else math.inf,
                acc[i - 1][j - 1] if i > 0 and j > 0 else math.inf,
            )
            acc[i][j] = cost[i][j] + prev
    return acc


def all_paths(n: int, m: int):
    """Every monotone path from (0, 0) to (n − 1, m − 1) with steps (1, 0), (0, 1), (1, 1)."""

    def walk(i: int, j: int):
        if (i, j) == (n - 1, m - 1):
            yield [(i, j)]
            return
        for di, dj in ((1, 1), (1, 0), (0, 1)):
            if i + di < n and j + dj < m:
                for rest in walk(i + di, j + dj):
                    yield [(i, j), *rest]

    yield from walk(0, 0)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (6, 1), (7, 7), (9, 4), (13, 20)])
def test_accumulated_cost_equals_the_textbook_loop(shape) -> None:
    cost = torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape)))
    ours = dtw_accumulated(cost)
    reference = torch.tensor(textbook_dtw(cost.double().tolist()), dtype=torch.float64)
    assert torch.allclose(ours, reference, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 4), (5, 5), (4, 6)])
def test_path_is_the_cheapest_monotone_path(shape) -> None:
    cost = torch.rand(shape, generator=torch.Generator().manual_seed(7 * shape[0] + shape[1]))
    total, path = dtw_path(cost)
    best = min(sum(cost[i, j].item() for i, j in p) for p in all_paths(*shape))
    assert total == pytest.approx(best, abs=1e-9)
    assert sum(cost[i, j].item() for i, j in path) == pytest.approx(total, abs=1e-9)
    assert path[0] == (0, 0) and path[-1] == (shape[0] - 1, shape[1] - 1)
    for (i0, j0), (i1, j1) in itertools.pairwise(path):
        assert (i1 - i0, j1 - j0) in {(1, 0), (0, 1), (1, 1)}


def test_a_sequence_played_at_half_speed_aligns_to_its_original() -> None:
    """Frames 0..9 against the same frames each shown twice: frame i matches positions 2i and 2i + 1."""
    a = torch.arange(10, dtype=torch.float64)
    b = a.repeat_interleave(2)
    cost = (a[:, None] - b[None]).abs()
    total, path = dtw_path(cost)
    assert total == 0.0
    assert torch.equal(aligned_positions(cost), 2 * a + 0.5)
    with pytest.raises(ValueError, match=r"non-empty \(N, M\)"):
        dtw_accumulated(torch.zeros(0, 3))
