"""The "psd" audio front end equals scipy.signal.spectrogram (the LVS / EZ-VSL released input), and the
undilated stride-16 ResNet keeps its last stage at stride 1 without dilation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import signal

from avssl.encoders import AudioCNNConfig, Visual2dConfig, build_encoder
from avssl.encoders.audio import PSDFrontEnd
from avssl.encoders.config import AudioFrontEndConfig


@pytest.mark.parametrize(
    ("length", "hop", "clip"), [(48000, 238, True), (16003, 160, False), (512, 238, True)]
)
def test_psd_equals_scipy_spectrogram(length, hop, clip):
    rng = np.random.default_rng(length)
    wave = rng.uniform(-1.3, 1.3, (2, length))  # two channels, beyond [-1, 1]
    cfg = AudioFrontEndConfig(
        spectrogram="psd", hop_ms=hop / 16, n_fft=512, log_offset=1e-7, std=12.0, clip=clip
    )
    ours = PSDFrontEnd(cfg)(torch.from_numpy(wave)[None].float())[0, 0].numpy()
    mono = wave.astype(np.float32).astype(np.float64)
    mono = (np.clip(mono, -1, 1) if clip else mono).mean(0)
    _, _, power = signal.spectrogram(mono, 16000, nperseg=512, noverlap=512 - hop)
    expected = np.log(power + 1e-7) / 12.0
    assert ours.shape == expected.shape == (257, 1 + (length - 512) // hop)
    assert np.abs(ours - expected).max() < 1e-6


def test_psd_refuses_what_it_cannot_compute():
    with pytest.raises(ValueError, match="log_mode"):
        PSDFrontEnd(AudioFrontEndConfig(spectrogram="psd", log_mode="db"))
    with pytest.raises(ValueError, match="fewer than one"):
        PSDFrontEnd(AudioFrontEndConfig(spectrogram="psd"))(torch.zeros(1, 1, 100))


def test_undilated_stride_16_resnets():
    visual = build_encoder(Visual2dConfig(name="resnet18", output_stride=16, dilate=False))
    convs = [m for m in visual.layer4.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.stride == (1, 1) and c.dilation == (1, 1) for c in convs)
    assert visual(torch.zeros(1, 3, 224, 224)).shape == (1, 512, 14, 14)
    dilated = build_encoder(Visual2dConfig(name="resnet18", output_stride=16))
    assert any(m.dilation == (2, 2) for m in dilated.layer4.modules() if isinstance(m, torch.nn.Conv2d))
    audio = build_encoder(
        AudioCNNConfig(
            name="audio_resnet18",
            output_stride=16,
            dilate=False,
            audio=AudioFrontEndConfig(spectrogram="psd"),
        )
    )
    assert isinstance(audio.frontend, PSDFrontEnd)
    assert audio(torch.zeros(1, 1, 16000)).shape == (1, 512, 17, 7)  # 97 frames at hop 160
