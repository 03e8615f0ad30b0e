"""Synthetic VGG-Sound-layout data shared by the recipe tests (written once per session)."""

from __future__ import annotations

import pytest

from avssl.data.synthetic.layouts import SynthSpec, write_synthetic


@pytest.fixture(scope="session")
def vggsound_synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("vggsound_synth")
    write_synthetic("vggsound", root, SynthSpec(n=48, seed=1, size=64, duration_s=2.0, num_classes=8))
    return root
