"""Every registered loss builds with its defaults and runs forward + backward on tiny inputs."""

from __future__ import annotations

import pytest
import torch

from avssl.losses import LOSSES, MemoryQueue


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_runs_forward_and_backward(name: str) -> None:
    criterion = LOSSES[name]()
    x = torch.randn(4, 8, requires_grad=True)
    y = torch.randn(4, 8)
    args = (x, y, MemoryQueue(8, 16).keys) if name == "moco" else (x, y)
    loss = criterion(*args)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
