"""DenseCL's dense projection head against a per-position loop of two matrix products."""

from __future__ import annotations

import torch

from avssl.heads.projection import DenseHead


def test_dense_head_is_a_per_position_mlp() -> None:
    torch.manual_seed(0)
    head = DenseHead(in_dim=6, hidden_dim=5, out_dim=4)
    maps = torch.randn(2, 6, 3, 2)
    out = head(maps)
    assert out.shape == (2, 4, 6)
    w1, b1 = head.net[0].weight[:, :, 0, 0], head.net[0].bias
    w2, b2 = head.net[2].weight[:, :, 0, 0], head.net[2].bias
    for b in range(2):
        for y in range(3):
            for x in range(2):
                hidden = torch.relu(w1 @ maps[b, :, y, x] + b1)
                torch.testing.assert_close(out[b, :, y * 2 + x], w2 @ hidden + b2)
