"""Smoke test over EVERY registry entry: forward + backward on tiny inputs, map rank and out_dim."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from avssl.encoders import (
    ENCODERS,
    OPTIONAL_ENCODERS,
    FlowConfig,
    MotionConfig,
    Visual2dConfig,
    build_encoder,
    encoder_config_class,
)
from avssl.encoders.motion import MIN_FLOW_SIZE, RaftFlow

OUTPUT_RANK = {"clip": 5, "waveform": 4}  # "image" keeps the input's rank


def _inputs(encoder: torch.nn.Module) -> list[torch.Tensor]:
    """Tiny inputs following the batch contract for the encoder's input kind."""
    kind, channels = encoder.input_kind, encoder.in_channels
    if kind == "waveform":
        return [torch.randn(2, channels, 16000) * 0.1]  # 1 s at 16 kHz
    if kind == "image":
        return [torch.randn(2, channels, 64, 64), torch.randn(2, channels, 4, 64, 64)]
    if kind == "clip":
        flow = isinstance(getattr(encoder, "motion", None), RaftFlow)
        size = MIN_FLOW_SIZE if flow else 32
        return [torch.randn(1 if flow else 2, channels, 2 if flow else 4, size, size)]
    raise AssertionError(f"unknown input_kind {kind!r}")


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_encoder_runs_forward_and_backward(name: str, raft_weights) -> None:
    if name in OPTIONAL_ENCODERS:
        pytest.importorskip(OPTIONAL_ENCODERS[name])
    torch.manual_seed(0)
    cfg = encoder_config_class(name)(name=name)
    if isinstance(cfg, MotionConfig):
        cfg.flow = FlowConfig(raft_weights=str(raft_weights), num_updates=2)
    encoder = build_encoder(cfg)
    assert isinstance(encoder.out_dim, int) and encoder.out_dim > 0
    for x in _inputs(encoder):
        out = encoder(x)
        rank = x.ndim if encoder.input_kind == "image" else OUTPUT_RANK[encoder.input_kind]
        assert out.ndim == rank, f"{name}: output {tuple(out.shape)} for input {tuple(x.shape)}"
        assert out.shape[0] == x.shape[0] and out.shape[1] == encoder.out_dim
        assert torch.isfinite(out).all()
        encoder.zero_grad()
        out.square().mean().backward()
        trainable = [(n, p) for n, p in encoder.named_parameters() if p.requires_grad]
        assert trainable
        without_grad = [n for n, p in trainable if p.grad is None]
        assert not without_grad, f"{name}: no gradient for {without_grad[:5]}"


def test_registry_rejects_unknown_names() -> None:
    with pytest.raises(KeyError, match="unknown encoder 'resnet19'"):
        build_encoder(Visual2dConfig(name="resnet19"))


def test_build_encoder_refuses_another_familys_config() -> None:
    with pytest.raises(TypeError, match="AudioCNNConfig"):
        build_encoder(Visual2dConfig(name="audio_resnet18"))


def test_importing_the_encoders_does_not_import_pytorchvideo() -> None:
    """pytorchvideo (slow to import) is imported only by the builders of its models."""
    code = "import sys, avssl.encoders, avssl.tasks; assert 'pytorchvideo' not in sys.modules, 'imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
    code = "import sys; from avssl.encoders import build_encoder, Video3dConfig; "
    code += "build_encoder(Video3dConfig(name='x3d_s')); assert 'pytorchvideo' in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
