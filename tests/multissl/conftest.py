"""Shared fixtures of the multi-SSL tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from avssl.tasks.binaural_multissl import BinauralMultiSSL, BinauralMultiSSLConfig
from avssl.tasks.multissl_common import StrategyConfig


@pytest.fixture
def spatial_stage(tmp_path) -> tuple[Path, BinauralMultiSSL]:
    """A finished first incremental stage (spatial only, seed 0): its run directory and its model."""
    from avssl.config import save_config
    from avssl.train.checkpoint import export_model

    run = tmp_path / "stage_spatial"
    torch.manual_seed(0)
    cfg = BinauralMultiSSLConfig(strategy=StrategyConfig(pretexts=["spatial"]))
    first = BinauralMultiSSL(cfg)
    save_config({"task": "binaural_multissl", "model": cfg}, run / "config.yaml")
    export_model(first, run)
    return run, first
