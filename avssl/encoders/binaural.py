"""Binaural audio encoder: per-ear STFT + interaural cues → multi-channel ResNet.

Front end (on the input's device), for a stereo waveform (B, 2, S) with left L and right R STFTs
(n_fft 512, hop 160, periodic Hann window 400, centred with reflect padding: the setting of Vasudevan et al.,
"Sound and Visual Representation Learning with Multiple Pretraining Tasks", CVPR 2022), F = n_fft/2 + 1 = 257
bins, T = 1 + S // hop frames:

    ch 0, 1   log-magnitudes      ln(|L| + offset),  ln(|R| + offset)
    ch 2      interaural level    ILD = 10 · log10((|L|² + ε) / (|R|² + ε))   [dB; > 0 when L is louder]
    ch 3, 4   interaural phase    cos IPD, sin IPD  with  e^{i·IPD} = L·R̄ / (|L·R̄| + ε)

so an R equal to L attenuated by g dB gives ILD = g, a delay of d samples of R gives IPD ≈ 2π·f·d/sr,
and swapping the ears negates ILD and sin IPD. The cues are the classic duplex-theory ones (ILD for high,
IPD for low frequencies; Rayleigh 1907) that binaural SSL methods rely on to tell left from right.

Encoder: those 5 channels → ResNet with 5 input channels: (B, 2, S) → (B, 512, ⌈257/32⌉, ⌈T/32⌉).
`SmallBinauralEncoder` puts the same front end in front of the CPU-scale `SmallConvNet` (tests, synthetic
multi-task runs): (B, 2, S) → (B, 256, ⌈257/s⌉, ⌈T/s⌉).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from avssl.encoders.config import BinauralFrontEndConfig
from avssl.encoders.small import SmallConvNet
from avssl.encoders.visual import ResNet2dEncoder, ResNetArch
from avssl.encoders.weights import ClassifierLayout

N_CUE_CHANNELS = 5


def interaural_cues(left: Tensor, right: Tensor, eps: float = 1e-10) -> tuple[Tensor, Tensor, Tensor]:
    """Complex STFTs (..., F, T) of both ears → (ILD in dB, cos IPD, sin IPD), each (..., F, T)."""
    power_l, power_r = left.abs().square(), right.abs().square()
    ild = 10.0 * torch.log10((power_l + eps) / (power_r + eps))
    cross = left * right.conj()
    phase = cross / (cross.abs() + eps)
    return ild, phase.real, phase.imag


class BinauralFrontEnd(nn.Module):
    """Stereo waveform (B, 2, S) → cue image (B, 5, n_fft/2 + 1, 1 + S // hop); see the module docstring."""

    def __init__(self, cfg: BinauralFrontEndConfig) -> None:
        super().__init__()
        if cfg.n_fft < cfg.win_length:
            raise ValueError(f"n_fft ({cfg.n_fft}) must be ≥ win_length ({cfg.win_length})")
        self.register_buffer("window", torch.hann_window(cfg.win_length, periodic=True), persistent=False)
        self.cfg = cfg

    def stft(self, wave: Tensor) -> Tensor:
        """(..., S) real → (..., F, T) complex STFT with the configured window."""
        flat = wave.reshape(-1, wave.shape[-1])
        spec = torch.stft(
            flat,
            n_fft=self.cfg.n_fft,
            hop_length=self.cfg.hop_length,
            win_length=self.cfg.win_length,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        return spec.reshape(*wave.shape[:-1], *spec.shape[-2:])

    def forward(self, wave: Tensor) -> Tensor:
        """(B, 2, S) → (B, 5, F, T): [ln|L|, ln|R|, ILD, cos IPD, sin IPD]."""
        if wave.ndim != 3 or wave.shape[1] != 2:
            raise ValueError(f"expected a binaural waveform (B, 2, samples), got shape {tuple(wave.shape)}")
        with torch.autocast(device_type=wave.device.type, enabled=False):
            spec = self.stft(wave.float())  # (B, 2, F, T)
            left, right = spec[:, 0], spec[:, 1]
            ild, cos_ipd, sin_ipd = interaural_cues(left, right, self.cfg.eps)
            log_mag = torch.log(spec.abs() + self.cfg.log_offset)  # (B, 2, F, T)
            return torch.cat([log_mag, torch.stack([ild, cos_ipd, sin_ipd], dim=1)], dim=1)


class BinauralResNetEncoder(nn.Module):
    """Binaural cues + 5-channel ResNet: (B, 2, S) → (B, D, f, t), D = 512 for ResNet-18."""

    input_kind = "waveform"
    classifier_layout = ClassifierLayout(module="backbone", head=("fc.",), first_conv="conv1.weight")

    def __init__(
        self, cfg: BinauralFrontEndConfig, arch: ResNetArch = "resnet18", output_stride: int = 32
    ) -> None:
        super().__init__()
        self.frontend = BinauralFrontEnd(cfg)
        self.backbone = ResNet2dEncoder(arch, in_channels=N_CUE_CHANNELS, output_stride=output_stride)
        self.in_channels = 2
        self.out_dim: int = self.backbone.out_dim

    def forward(self, wave: Tensor) -> Tensor:
        """(B, 2, S) → (B, out_dim, F/s, T/s)."""
        return self.backbone(self.frontend(wave))


class SmallBinauralEncoder(nn.Module):
    """Binaural cues + `SmallConvNet` (5 input channels): (B, 2, S) → (B, 256, F/s, T/s)."""

    input_kind = "waveform"

    def __init__(self, cfg: BinauralFrontEndConfig, width: int = 32, output_stride: int = 16) -> None:
        super().__init__()
        self.frontend = BinauralFrontEnd(cfg)
        self.net = SmallConvNet(N_CUE_CHANNELS, width, output_stride)
        self.in_channels = 2
        self.out_dim: int = self.net.out_dim

    def forward(self, wave: Tensor) -> Tensor:
        """(B, 2, S) → (B, out_dim, F/s, T/s)."""
        return self.net(self.frontend(wave))
