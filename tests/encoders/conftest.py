"""Fixtures for the encoder tests: a RAFT-small weights file written locally (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models.optical_flow import raft_small


@pytest.fixture(scope="session")
def raft_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torch file holding a randomly initialised ``raft_small`` state dict."""
    path = tmp_path_factory.mktemp("raft") / "raft_small.pt"
    torch.manual_seed(0)
    torch.save(raft_small(weights=None).state_dict(), path)
    return path
