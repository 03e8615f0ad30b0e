"""`data.eval_input`: audio windows from the start or centred, short audio tiled, native frames through
Pillow's bicubic resize (a published model's test input)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from avssl.data.datasets.base import fit_audio
from avssl.data.sampling import clip_starts
from avssl.transforms import build_transforms


def test_fit_audio_tiles_only_the_valid_part():
    audio = torch.tensor([[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0]])
    assert fit_audio(audio, 3, "tile").tolist() == [[1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]]
    assert torch.equal(fit_audio(audio, 3, "pad"), audio)
    assert torch.equal(fit_audio(audio, 7, "tile"), audio)
    with pytest.raises(ValueError, match="short_audio"):
        fit_audio(audio, 3, "loop")


def test_start_sampler():
    assert clip_starts(20.0, 10.0, "start") == [0.0]
    assert clip_starts(4.0, 3.0, "centre") == [0.5]


def test_pil_bicubic_resize_is_pillows():
    frame = np.random.default_rng(0).integers(0, 256, (90, 160, 3), dtype=np.uint8)
    pipeline = build_transforms([{"name": "resize", "size": 64, "interpolation": "pil_bicubic"}])
    out = pipeline({"video": torch.from_numpy(frame).permute(2, 0, 1)[None]})["video"]
    expected = np.asarray(Image.fromarray(frame).resize((113, 64), Image.BICUBIC))
    assert out.shape == (1, 3, 64, 113) and np.array_equal(out[0].permute(1, 2, 0).numpy(), expected)
    with pytest.raises(ValueError, match="interpolation"):
        build_transforms([{"name": "resize", "size": 64, "interpolation": "lanczos"}])
