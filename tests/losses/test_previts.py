"""PreViTS' attention supervision (Chen et al., arXiv 2112.00804): the cosine distance between the query's
Grad-CAM map and the tracked region's mask, against a naive loop over samples and positions; samples
without a tracked object are left out; the mask carries no gradient. (Grad-CAM itself is tested against a
hand-derived gradient in tests/losses/test_mcl.py.)"""

from __future__ import annotations

import math

import pytest
import torch

from avssl.losses.previts import attention_loss


def naive_attention(cam: torch.Tensor, mask: torch.Tensor) -> tuple[float, int]:
    """1 − Σ m·s / (|m| |s|) per sample with a non-empty mask, by loops; their mean."""
    total, count = 0.0, 0
    for b in range(cam.shape[0]):
        m = [float(v) for v in cam[b].flatten()]
        s = [float(v) for v in mask[b].flatten()]
        if sum(s) == 0:
            continue
        dot = sum(x * y for x, y in zip(m, s))
        norm = math.sqrt(sum(x * x for x in m)) * math.sqrt(sum(y * y for y in s))
        total += 1.0 - dot / norm
        count += 1
    return (total / count if count else 0.0), count


def test_attention_loss_equals_the_loop_and_skips_samples_without_a_track() -> None:
    g = torch.Generator().manual_seed(0)
    cam = torch.rand(4, 2, 3, 5, generator=g, dtype=torch.float64)
    mask = (torch.rand(4, 2, 3, 5, generator=g, dtype=torch.float64) > 0.6).double()
    mask[2] = 0.0  # no tracked object in this clip
    loss, count = attention_loss(cam, mask)
    ref, ref_count = naive_attention(cam, mask)
    assert count == ref_count == 3
    assert loss.item() == pytest.approx(ref, rel=1e-9)


def test_a_map_on_the_mask_costs_nothing_off_it_costs_one_and_the_mask_has_no_gradient() -> None:
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, :, 1:3, 1:3] = 1.0
    on = (2.5 * mask).requires_grad_(True)
    loss, _ = attention_loss(on, mask)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    off = (1.0 - mask).clone()
    assert attention_loss(off, mask)[0].item() == pytest.approx(1.0, abs=1e-6)
    soft = mask.clone().requires_grad_(True)
    attention_loss(torch.rand(2, 1, 4, 4, requires_grad=True), soft)[0].backward()
    assert soft.grad is None
    loss, count = attention_loss(on, torch.zeros_like(mask))
    assert count == 0 and loss.item() == 0.0
    loss.backward()  # still in the graph: a batch without tracks trains on InfoNCE alone
    with pytest.raises(ValueError, match="one shape"):
        attention_loss(on, mask[:, :, :2])
