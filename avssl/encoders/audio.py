"""Waveform audio encoder: log-mel front end + 2D ResNet over the (mel, time) plane.

:class:`LogMelFrontEnd` turns a waveform (B, ch, S) into a log-mel "image" (B, 1, n_mels, frames) on the
input's device with ``torchaudio.transforms.MelSpectrogram``:

    P[m, n] = Σ_k M[m, k] · |STFT(x)[k, n]|^power,   out = log(P + offset)  or  10·log10(max(P, offset))
    out = (out − mean) / std,   frames = 1 + S // hop (centred, reflect-padded frames)

with a periodic Hann window of ``win_length`` samples zero-padded to ``n_fft``. The defaults (Slaney mel
scale, Slaney area norm, reflect padding) make ``librosa.feature.melspectrogram(..., pad_mode="reflect")``
an exact reference; set ``mel_scale="htk"``, ``mel_norm=None`` for torchaudio's/HTK's filters. Channels are
averaged to mono first. The filters and window are non-persistent buffers: they follow the module's
device but are not in its state dict (the config fully determines them).

:class:`AudioResNetEncoder` feeds that image to a 1-channel ResNet (as in LVS, EZ-VSL and SSL-TIE, which
use ResNet-18 on spectrograms): (B, ch, S) → (B, 512, ⌈n_mels/32⌉, ⌈frames/32⌉) at output stride 32.
"""

from __future__ import annotations

import math

import torch
import torchaudio
from torch import Tensor, nn

from avssl.encoders.config import DEFAULT_SAMPLE_RATE, AudioFrontEndConfig
from avssl.encoders.visual import ResNet2dEncoder, ResNetArch
from avssl.encoders.weights import ClassifierLayout


def ms_to_samples(ms: float, sample_rate: int) -> int:
    """Window/hop length in samples: round(sample_rate · ms / 1000) (25 ms → 400, 10 ms → 160 at 16 kHz)."""
    return round(sample_rate * ms / 1000.0)


def tile_waveform(wave: Tensor, length: int) -> Tensor:
    """(..., S) repeated from its start until it is `length` samples long, then cut to `length`."""
    copies = -(-length // wave.shape[-1])
    return wave.repeat(*([1] * (wave.ndim - 1)), copies)[..., :length]


def make_buffers_non_persistent(module: nn.Module) -> None:
    """Keep every buffer of ``module`` (and its children) out of state dicts; they still follow ``.to()``."""
    for child in module.modules():
        for name, buf in list(child.named_buffers(recurse=False)):
            child.register_buffer(name, buf, persistent=False)


class LogMelFrontEnd(nn.Module):
    """Waveform (B, ch, S) → standardised log-mel (B, 1, n_mels, 1 + S // hop); see the module docstring."""

    def __init__(self, cfg: AudioFrontEndConfig) -> None:
        super().__init__()
        rate = DEFAULT_SAMPLE_RATE if cfg.sample_rate is None else cfg.sample_rate
        win_length = ms_to_samples(cfg.win_ms, rate)
        hop_length = ms_to_samples(cfg.hop_ms, rate)
        if cfg.n_fft < win_length:
            raise ValueError(f"n_fft ({cfg.n_fft}) must be ≥ the window ({win_length} samples)")
        if cfg.log_mode not in ("log", "db"):
            raise ValueError(f"log_mode must be 'log' or 'db', got {cfg.log_mode!r}")
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=rate,
            n_fft=cfg.n_fft,
            win_length=win_length,
            hop_length=hop_length,
            f_min=cfg.f_min,
            f_max=cfg.f_max,
            n_mels=cfg.n_mels,
            power=cfg.power,
            center=cfg.center,
            pad_mode="reflect",
            norm=cfg.mel_norm,
            mel_scale=cfg.mel_scale,
            normalized=cfg.normalized,
        )
        if cfg.repeat_s is not None and cfg.repeat_s <= 0:
            raise ValueError(f"repeat_s must be > 0 (or None), got {cfg.repeat_s}")
        make_buffers_non_persistent(self.mel)
        self.cfg = cfg
        self.sample_rate = rate
        self.hop_length = hop_length

    def mel_power(self, wave: Tensor) -> Tensor:
        """(B, ch, S) → mel power before the log, (B, n_mels, frames), float32 even under autocast."""
        if wave.ndim != 3:
            raise ValueError(f"expected a waveform (B, channels, samples), got shape {tuple(wave.shape)}")
        if self.cfg.repeat_s is not None:
            wave = tile_waveform(wave, round(self.cfg.repeat_s * self.sample_rate))
        if self.cfg.clip:
            wave = wave.clamp(-1.0, 1.0)
        with torch.autocast(device_type=wave.device.type, enabled=False):
            return self.mel(wave.float().mean(dim=1))

    def forward(self, wave: Tensor) -> Tensor:
        """(B, ch, S) → (B, 1, n_mels, frames)."""
        power = self.mel_power(wave)
        if self.cfg.log_mode == "log":
            logmel = torch.log(power + self.cfg.log_offset)
        else:
            logmel = 10.0 * torch.log10(power.clamp_min(self.cfg.log_offset))
        return ((logmel - self.cfg.mean) / self.cfg.std).unsqueeze(1)

    def silence_level(self) -> float:
        """The output for a silent (zero-power) input: what a masked band becomes (SpecAugment fill)."""
        cfg = self.cfg
        floor = math.log(cfg.log_offset) if cfg.log_mode == "log" else 10.0 * math.log10(cfg.log_offset)
        return (floor - cfg.mean) / cfg.std


class PSDFrontEnd(nn.Module):
    """Waveform (B, ch, S) → standardised log power spectral density (B, 1, n_fft // 2 + 1, frames), as
    ``scipy.signal.spectrogram(x, fs, nperseg=n_fft, noverlap=n_fft - hop)`` with its defaults, the
    spectrogram of the LVS and EZ-VSL released code (Chen et al., CVPR 2021; Mo & Morgado, ECCV 2022):

        segments of n_fft samples every hop (no centring, no padding; frames = 1 + (S − n_fft) // hop),
        each minus its mean (``detrend="constant"``), times a periodic Tukey window (alpha 0.25),
        P = |rfft|² / (fs · Σ w²), doubled except at 0 Hz and Nyquist (one-sided density),
        out = (log(P + log_offset) − mean) / std       (``log_mode="log"``; the released: 1e-7, 0, 12)

    Channels are averaged to mono; ``clip`` first limits the waveform to [−1, 1]; ``repeat_s`` tiles it as
    :class:`LogMelFrontEnd` does. Computed in float64 where the device has it (as scipy), returned float32.
    """

    def __init__(self, cfg: AudioFrontEndConfig) -> None:
        super().__init__()
        from scipy.signal import get_window

        self.sample_rate = DEFAULT_SAMPLE_RATE if cfg.sample_rate is None else cfg.sample_rate
        self.hop_length = ms_to_samples(cfg.hop_ms, self.sample_rate)
        if not 0 < self.hop_length <= cfg.n_fft:
            raise ValueError(f"hop ({self.hop_length} samples) must be in (0, n_fft = {cfg.n_fft}]")
        if cfg.log_mode != "log":
            raise ValueError("the psd spectrogram takes log_mode 'log' (natural log of the density)")
        window = torch.from_numpy(get_window(("tukey", 0.25), cfg.n_fft))  # periodic, as scipy uses it
        self.register_buffer("window", window, persistent=False)
        self.cfg = cfg

    def forward(self, wave: Tensor) -> Tensor:
        """(B, ch, S) → (B, 1, n_fft // 2 + 1, 1 + (S − n_fft) // hop)."""
        if wave.ndim != 3:
            raise ValueError(f"expected a waveform (B, channels, samples), got shape {tuple(wave.shape)}")
        cfg = self.cfg
        if cfg.repeat_s is not None:
            wave = tile_waveform(wave, round(cfg.repeat_s * self.sample_rate))
        if wave.shape[-1] < cfg.n_fft:
            raise ValueError(f"{wave.shape[-1]} samples: fewer than one spectrogram segment ({cfg.n_fft})")
        dtype = torch.float64 if wave.device.type in ("cpu", "cuda") else torch.float32
        with torch.autocast(device_type=wave.device.type, enabled=False):
            x = wave.to(dtype)
            x = (x.clamp(-1.0, 1.0) if cfg.clip else x).mean(dim=1)  # (B, S)
            segments = x.unfold(-1, cfg.n_fft, self.hop_length)  # (B, frames, n_fft)
            segments = segments - segments.mean(dim=-1, keepdim=True)
            window = self.window.to(dtype)
            power = torch.fft.rfft(segments * window, dim=-1).abs().square()
            power = power / (self.sample_rate * window.square().sum())
            power[..., 1 : (None if cfg.n_fft % 2 else -1)] *= 2
            logpsd = torch.log(power + cfg.log_offset).transpose(1, 2)  # (B, freq, frames)
            return ((logpsd - cfg.mean) / cfg.std).float().unsqueeze(1)


def build_frontend(cfg: AudioFrontEndConfig) -> nn.Module:
    """The front end ``cfg.spectrogram`` names: ``"mel"`` → :class:`LogMelFrontEnd`, ``"psd"`` →
    :class:`PSDFrontEnd`."""
    if cfg.spectrogram == "psd":
        return PSDFrontEnd(cfg)
    if cfg.spectrogram == "mel":
        return LogMelFrontEnd(cfg)
    raise ValueError(f"spectrogram must be 'mel' or 'psd', got {cfg.spectrogram!r}")


class AudioResNetEncoder(nn.Module):
    """Log-mel + 1-channel ResNet: waveform (B, ch, S) → (B, D, f, t), D = 512 (ResNet-18) / 2048 (ResNet-50)."""

    input_kind = "waveform"
    classifier_layout = ClassifierLayout(module="backbone", head=("fc.",), first_conv="conv1.weight")

    def __init__(
        self,
        cfg: AudioFrontEndConfig,
        arch: ResNetArch = "resnet18",
        output_stride: int = 32,
        dilate: bool = True,
    ) -> None:
        super().__init__()
        self.frontend = build_frontend(cfg)
        self.backbone = ResNet2dEncoder(arch, in_channels=1, output_stride=output_stride, dilate=dilate)
        self.in_channels = 1  # any channel count is accepted and averaged to mono
        self.out_dim: int = self.backbone.out_dim

    def forward(self, wave: Tensor) -> Tensor:
        """(B, ch, S) → (B, out_dim, n_mels/s, frames/s)."""
        return self.backbone(self.frontend(wave))
