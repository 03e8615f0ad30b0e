"""Motion encoders: frame differences against a loop; RAFT only from a local weights file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from avssl.encoders import FlowConfig, MotionConfig, WeightsError, build_encoder
from avssl.encoders.motion import FrameDifference, RaftFlow


def test_frame_differences_match_a_loop() -> None:
    video = torch.randn(2, 3, 5, 8, 8)
    diffs = FrameDifference()(video)
    assert diffs.shape == (2, 3, 4, 8, 8)
    for t in range(4):
        torch.testing.assert_close(diffs[:, :, t], video[:, :, t + 1] - video[:, :, t])
    with pytest.raises(ValueError, match="T ≥ 2"):
        FrameDifference()(video[:, :, :1])


def test_diff_encoder_shape() -> None:
    encoder = build_encoder(MotionConfig(name="motion_diff_r2plus1d_18")).eval()
    with torch.no_grad():
        assert encoder(torch.randn(1, 3, 9, 64, 64)).shape == (1, 512, 1, 4, 4)  # 8 differences


def test_flow_without_weights_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="flow.raft_weights"):
        build_encoder(MotionConfig(name="motion_flow_r3d_18"))


def test_flow_with_a_wrong_weights_file_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "raft.pt"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(WeightsError, match=r"raft\.pt.*missing"):
        build_encoder(MotionConfig(name="motion_flow_r3d_18", flow=FlowConfig(raft_weights=str(bad))))


def test_raft_flow_from_a_local_weights_file(raft_weights: Path) -> None:
    flow = RaftFlow(FlowConfig(raft_weights=str(raft_weights), num_updates=3))
    flow.train()
    assert not flow.raft.training and not any(p.requires_grad for p in flow.raft.parameters())
    video = torch.randn(1, 3, 2, 128, 128, requires_grad=True)
    out = flow(video)
    assert out.shape == (1, 2, 1, 128, 128) and torch.isfinite(out).all()
    assert not out.requires_grad  # frozen and outside the graph
    with pytest.raises(ValueError, match="multiples of 8"):
        flow(torch.randn(1, 3, 2, 64, 64))
