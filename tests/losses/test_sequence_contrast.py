"""CARL's sequence contrastive loss (Chen et al., CVPR 2022, Sec. 3.3) against a per-frame loop written from
the paper's definitions: Gaussian prior on the timestamp distance, softmax of cosine / τ over the other view's
frames, KL(prior ‖ softmax), both directions, divided by the number of valid frames."""

from __future__ import annotations

import math

import pytest
import torch

from avssl.losses.sequence_contrast import SequenceContrast, sequence_contrast


def naive_scl(z1, t1, z2, t2, m1, m2, tau: float, var: float) -> float:
    total, count = 0.0, 0
    for b in range(z1.shape[0]):
        for za, ta, ma, zb, tb, mb in (
            (z1[b], t1[b], m1[b], z2[b], t2[b], m2[b]),
            (z2[b], t2[b], m2[b], z1[b], t1[b], m1[b]),
        ):
            cols = [j for j in range(len(tb)) if mb[j]]
            for i in range(len(ta)):
                if not ma[i]:
                    continue
                count += 1
                prior = [math.exp(-((float(ta[i]) - float(tb[j])) ** 2) / (2 * var)) for j in cols]
                sims = [float(torch.dot(za[i], zb[j]) / (za[i].norm() * zb[j].norm())) / tau for j in cols]
                zp, zq = sum(prior), sum(math.exp(s) for s in sims)
                for w, s in zip(prior, sims):
                    w, q = w / zp, math.exp(s) / zq
                    if w > 0:
                        total += w * (math.log(w) - math.log(q))
    return total / count


def test_loss_equals_the_per_frame_loop_with_padding() -> None:
    g = torch.Generator().manual_seed(0)
    z1, z2 = (
        torch.randn(2, 6, 5, generator=g, dtype=torch.float64),
        torch.randn(2, 4, 5, generator=g, dtype=torch.float64),
    )
    t1 = torch.tensor([[0, 2, 3, 5, 8, 9], [1, 2, 3, 4, 5, 6]], dtype=torch.float64)
    t2 = torch.tensor([[1, 4, 6, 7], [0, 3, 9, 12]], dtype=torch.float64)
    m1 = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    m2 = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    for tau, var in ((0.1, 10.0), (0.5, 2.0)):
        ours = sequence_contrast(z1, t1, z2, t2, m1, m2, tau, var)
        assert ours.item() == pytest.approx(naive_scl(z1, t1, z2, t2, m1, m2, tau, var), rel=1e-9)
    z1.requires_grad_(True)
    loss = SequenceContrast(0.1, 10.0)(z1, t1, z2, t2, m1, m2)
    loss.backward()
    assert torch.isfinite(z1.grad).all() and z1.grad[1, 4:].abs().sum() == 0  # padded frames get no gradient


def test_embeddings_that_follow_time_score_lower_than_shuffled_ones() -> None:
    """Frame embeddings on a circle by timestamp (near in time = near in space) against the same embeddings
    with view 2's frames permuted: the time-consistent ones have the lower loss; no masks = all valid."""
    t = torch.arange(12, dtype=torch.float64)[None]
    angle = t / 12 * math.pi
    z = torch.stack([angle.cos(), angle.sin()], dim=-1)
    ordered = sequence_contrast(z, t, z, t, temperature=0.05, variance=1.0)
    shuffled = sequence_contrast(
        z,
        t,
        z[:, torch.randperm(12, generator=torch.Generator().manual_seed(1))],
        t,
        temperature=0.05,
        variance=1.0,
    )
    assert ordered < shuffled
    with pytest.raises(ValueError, match="at least one valid frame"):
        sequence_contrast(z, t, z, t, torch.zeros(1, 12, dtype=torch.bool), None)
    with pytest.raises(ValueError, match="must be > 0"):
        SequenceContrast(0.0)
