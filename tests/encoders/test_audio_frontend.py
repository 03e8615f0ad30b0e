"""Log-mel front end against librosa with the same STFT and mel-filter settings."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from avssl.encoders import ENCODERS, AudioCNNConfig, AudioFrontEndConfig, build_encoder
from avssl.encoders.audio import LogMelFrontEnd

SR = 16000


def _test_signal(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A chirp plus a little noise: energy across the whole band."""
    t = np.arange(int(seconds * SR)) / SR
    chirp = 0.5 * np.sin(2 * np.pi * (100 * t + 3000 * t**2))
    return (chirp + 0.05 * np.random.default_rng(seed).standard_normal(t.size)).astype(np.float32)


def _librosa_mel(wave: np.ndarray, cfg: AudioFrontEndConfig) -> np.ndarray:
    return librosa.feature.melspectrogram(
        y=wave.astype(np.float64),
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=round(cfg.sample_rate * cfg.hop_ms / 1000),
        win_length=round(cfg.sample_rate * cfg.win_ms / 1000),
        window="hann",  # periodic Hann, zero-padded to n_fft in the centre, as torch does
        center=cfg.center,
        pad_mode="reflect",  # torchaudio's padding (librosa's own default is zeros)
        power=cfg.power,
        n_mels=cfg.n_mels,
        fmin=cfg.f_min,
        fmax=cfg.f_max,
        htk=cfg.mel_scale == "htk",
        norm=cfg.mel_norm,
    )


@pytest.mark.parametrize(
    "cfg",
    [
        AudioFrontEndConfig(sample_rate=16000),  # librosa's own filters: Slaney scale, Slaney norm
        AudioFrontEndConfig(sample_rate=16000, mel_scale="htk", mel_norm=None, n_mels=128, n_fft=1024),
        AudioFrontEndConfig(
            sample_rate=22050, f_min=125.0, f_max=7500.0, power=1.0, center=False, n_fft=1024
        ),
    ],
    ids=["slaney", "htk-128-nfft1024", "vggish-band-magnitude"],
)
def test_mel_power_matches_librosa(cfg: AudioFrontEndConfig) -> None:
    wave = _test_signal()
    ours = LogMelFrontEnd(cfg).mel_power(torch.from_numpy(wave)[None, None])[0].double().numpy()
    ref = _librosa_mel(wave, cfg)
    assert ours.shape == ref.shape
    if cfg.center:
        assert ours.shape[1] == 1 + wave.size // 160
    assert np.abs(ours - ref).max() / ref.max() < 1e-4
    # elementwise on bins holding energy (elsewhere float32 round-off is the whole value)
    strong = ref > 1e-3 * ref.max()
    np.testing.assert_allclose(ours[strong], ref[strong], rtol=2e-4)


def test_log_modes_and_standardisation() -> None:
    wave = torch.from_numpy(_test_signal())[None, None]
    power = LogMelFrontEnd(AudioFrontEndConfig()).mel_power(wave)
    log = LogMelFrontEnd(AudioFrontEndConfig(log_offset=1e-3, mean=-4.0, std=2.0))(wave)
    torch.testing.assert_close(log[:, 0], (torch.log(power + 1e-3) + 4.0) / 2.0)
    db = LogMelFrontEnd(AudioFrontEndConfig(log_mode="db", log_offset=1e-10))(wave)
    torch.testing.assert_close(db[:, 0], 10 * torch.log10(power.clamp_min(1e-10)))


def test_channels_are_averaged_to_mono() -> None:
    front = LogMelFrontEnd(AudioFrontEndConfig())
    left, right = torch.from_numpy(_test_signal(seed=1)), torch.from_numpy(_test_signal(seed=2))
    stereo = torch.stack([left, right])[None]  # (1, 2, S)
    torch.testing.assert_close(front(stereo), front(((left + right) / 2)[None, None]))


def test_an_unset_sample_rate_is_the_batch_contracts_16_khz() -> None:
    unset, explicit = (
        LogMelFrontEnd(AudioFrontEndConfig()),
        LogMelFrontEnd(AudioFrontEndConfig(sample_rate=16000)),
    )
    assert unset.sample_rate == 16000 and unset.hop_length == explicit.hop_length == 160
    assert LogMelFrontEnd(AudioFrontEndConfig(sample_rate=48000, n_fft=2048)).hop_length == 480


def test_front_end_state_is_not_in_the_state_dict() -> None:
    """Filters/windows follow the device but are fixed by the config, so checkpoints hold only weights."""
    assert not LogMelFrontEnd(AudioFrontEndConfig()).state_dict()
    encoder = build_encoder(AudioCNNConfig(name="audio_resnet18"))
    assert all(k.startswith("backbone.") for k in encoder.state_dict())
    buffers = dict(encoder.named_buffers())
    assert "frontend.mel.mel_scale.fb" in buffers and "frontend.mel.spectrogram.window" in buffers


def test_audio_resnet_map_shape_and_options() -> None:
    cfg = AudioCNNConfig(name="audio_resnet18", audio=AudioFrontEndConfig(n_mels=128))
    encoder = build_encoder(cfg).eval()
    with torch.no_grad():
        out = encoder(torch.randn(2, 1, 32000))  # 2 s → 201 frames
    assert out.shape == (2, 512, 4, 7)
    with pytest.raises(TypeError, match="in_channels"):
        AudioCNNConfig(name="audio_resnet18", in_channels=2)  # mono front end: not an option
    with pytest.raises(ValueError, match="n_fft"):
        LogMelFrontEnd(AudioFrontEndConfig(n_fft=256))
    assert "audio_resnet18" in ENCODERS
