"""Every pairwise embedding loss builds with its defaults and runs forward + backward on tiny inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from avssl.losses import BYOLLoss, CrossModalInfoNCE, MoCoLoss, NTXent
from avssl.modules.momentum import MemoryQueue


@pytest.mark.parametrize("loss_class", [CrossModalInfoNCE, NTXent, MoCoLoss, BYOLLoss])
def test_every_loss_runs_forward_and_backward(loss_class: type[nn.Module]) -> None:
    criterion = loss_class()
    x = torch.randn(4, 8, requires_grad=True)
    y = torch.randn(4, 8)
    args = (x, y, MemoryQueue(8, 16).keys) if loss_class is MoCoLoss else (x, y)
    loss = criterion(*args)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
