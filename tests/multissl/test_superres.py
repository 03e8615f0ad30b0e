"""Spatial sound super-resolution head: shapes, the complex mask product, and a tiny end-to-end run on
synthetic binaural clips (scores for the model and the mono baseline are finite and positive)."""

from __future__ import annotations

import torch

from avssl.data.loader import DataConfig
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic
from avssl.evaluation.multissl import eval_dataset
from avssl.evaluation.superres import SuperResConfig, train_superres
from avssl.heads.binaural_superres import SpatialSuperResolution, apply_mask
from avssl.tasks.binaural_multissl import BinauralMultiSSL, BinauralMultiSSLConfig


def test_mask_product_is_the_complex_product_and_head_keeps_the_shape() -> None:
    g = torch.Generator().manual_seed(0)
    mask, mix = torch.randn(3, 2, 5, 7, generator=g), torch.randn(3, 2, 5, 7, generator=g)
    expected = torch.complex(mask[:, 0], mask[:, 1]) * torch.complex(mix[:, 0], mix[:, 1])
    got = apply_mask(mask, mix)
    assert torch.allclose(got[:, 0], expected.real, atol=1e-6) and torch.allclose(
        got[:, 1], expected.imag, atol=1e-6
    )
    head = SpatialSuperResolution(visual_dim=10)
    out = head(torch.randn(2, 2, 257, 51), torch.randn(2, 10))
    assert out.shape == (2, 2, 257, 51) and out.abs().max() <= 1


def test_tiny_superres_run(tmp_path) -> None:
    write_synthetic(
        "fairplay", tmp_path, SynthSpec(n=8, seed=3, size=48, fps=8, duration_s=4.0, num_classes=4)
    )
    cfg = DataConfig(root=str(tmp_path), layout="fairplay", duration_s=4.0, fps=4, size=32, channels=2)
    task = BinauralMultiSSL(BinauralMultiSSLConfig())
    scores = train_superres(
        task, eval_dataset(cfg, "train"), eval_dataset(cfg, "val"), SuperResConfig(steps=2, batch_size=4)
    )
    assert scores["n"] == 2
    assert all(0 < scores[k] < float("inf") for k in ("stft", "envelope", "mono_stft", "mono_envelope"))
