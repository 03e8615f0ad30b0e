"""VGGish (Hershey et al., "CNN architectures for large-scale audio classification", ICASSP 2017).

Input pipeline of the released model (its ``mel_features``/``vggish_input``), reproduced on device:

1. channels averaged to mono, resampled to 16 kHz;
2. frames of 400 samples (25 ms) every 160 (10 ms), NOT centred: n_frames = 1 + (S − 400) // 160;
3. |rfft| (magnitude, not power) of each periodic-Hann-windowed frame, n_fft = 512;
4. 64 mel bands over 125-7500 Hz: triangles defined on the HTK mel scale mel(f) = 1127·ln(1 + f/700),
   band edges equally spaced in mel, each FFT bin weighted by the triangle at mel(f_bin), no area norm,
   DC bin zeroed (:func:`vggish_mel_matrix`);
5. log(mel + 0.01);
6. non-overlapping patches of 96 frames (0.96 s) × 64 bands; a trailing partial patch is dropped:
   n_patches = n_frames // 96 = ⌊(S − 240) / 15360⌋ at 16 kHz, i.e. ⌊duration / 0.96 s⌋ except when the
   duration lies less than 15 ms above a multiple of 0.96 s (one patch fewer; e.g. exactly 0.96 s gives 0).

Network: VGG-like convs (64, pool, 128, pool, 256, 256, pool, 512, 512, pool) on a (96, 64) patch →
(512, 6, 4), flattened in TensorFlow's (h, w, c) order, fc 4096 → 4096 → 128 (no activation on the
final embedding, as in the released TF model). Layer names (``features.*``, ``embeddings.*``) follow the
common PyTorch port, so converted released weights load with ``weights_source="encoder"``.

Output: one 128-d embedding per patch as a map (B, 128, 1, n_patches): f = 1, t = patch index (time
stays the last axis, as in every audio map here). AVS/TPAVI uses one patch per video frame.

AudioSet weights in torchvggish's format (github harritaylor/torchvggish) load with ``weights_source=
"encoder"``: its ``vggish-*.pth`` (``features.*``, ``embeddings.*``) or a whole torchvggish model's state
dict, whose ``pproc.pca_matrix`` / ``pproc.pca_means`` are loaded when ``postprocess`` is on and ignored
otherwise. (torchvggish ends ``embeddings`` with a ReLU; the TF model, and this one, do not.) With
``postprocess`` the embeddings are post-processed as the released AudioSet features (:class:`VGGishPCA`):
PCA with whitening, clipped to [-2, 2], quantised to 8 bits (values 0..255, no gradient); its parameters come
from such a state dict or from torchvggish's PCA file (``pca_eigen_vectors``, ``pca_means``) via
:func:`load_pca_params`.
"""

from __future__ import annotations

import math

import torch
import torchaudio
from einops import rearrange
from torch import Tensor, nn

from avssl.encoders.weights import load_plain

VGGISH_SAMPLE_RATE = 16000
WINDOW, HOP, N_FFT = 400, 160, 512
N_BANDS, F_MIN, F_MAX = 64, 125.0, 7500.0
LOG_OFFSET = 0.01
PATCH_FRAMES = 96


def hz_to_mel_htk(hz: Tensor) -> Tensor:
    """HTK mel scale: 1127 · ln(1 + f / 700)."""
    return 1127.0 * torch.log1p(hz / 700.0)


def vggish_mel_matrix(sample_rate: int = VGGISH_SAMPLE_RATE) -> Tensor:
    """(n_fft // 2 + 1, 64) weights, FFT bin → mel band (see step 4 of the module docstring)."""
    bins_mel = hz_to_mel_htk(torch.linspace(0.0, sample_rate / 2, N_FFT // 2 + 1, dtype=torch.float64))
    edges = torch.linspace(
        math.log1p(F_MIN / 700.0) * 1127.0,
        math.log1p(F_MAX / 700.0) * 1127.0,
        N_BANDS + 2,
        dtype=torch.float64,
    )
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (centre - lower)  # (n_bins, 64)
    falling = (upper - bins_mel[:, None]) / (upper - centre)
    weights = torch.minimum(rising, falling).clamp_min(0.0)
    weights[0] = 0.0  # the DC bin carries no band energy
    return weights.float()


def vggish_log_mel(wave: Tensor, mel_matrix: Tensor) -> Tensor:
    """Mono 16 kHz (B, S) → log-mel (B, n_frames, 64), steps 2-5 of the module docstring."""
    if wave.shape[-1] < WINDOW:
        raise ValueError(f"VGGish needs at least {WINDOW} samples (25 ms), got {wave.shape[-1]}")
    frames = wave.unfold(-1, WINDOW, HOP)  # (B, n_frames, 400)
    window = torch.hann_window(WINDOW, periodic=True, dtype=wave.dtype, device=wave.device)
    magnitude = torch.fft.rfft(frames * window, n=N_FFT).abs()  # (B, n_frames, 257)
    return torch.log(magnitude @ mel_matrix.to(wave.dtype) + LOG_OFFSET)


def vggish_patches(wave: Tensor, sample_rate: int, mel_matrix: Tensor | None = None) -> Tensor:
    """Waveform (B, ch, S) at ``sample_rate`` → log-mel patches (B, n_patches, 96, 64) (module docstring)."""
    if wave.ndim != 3:
        raise ValueError(f"expected a waveform (B, channels, samples), got shape {tuple(wave.shape)}")
    mono = wave.float().mean(dim=1)
    if sample_rate != VGGISH_SAMPLE_RATE:
        mono = torchaudio.functional.resample(mono, sample_rate, VGGISH_SAMPLE_RATE)
    if mel_matrix is None:
        mel_matrix = vggish_mel_matrix().to(mono.device)
    logmel = vggish_log_mel(mono, mel_matrix)
    n_patches = logmel.shape[1] // PATCH_FRAMES
    if n_patches == 0:
        raise ValueError(
            f"audio too short for one 0.96 s VGGish patch: {logmel.shape[1]} frames < {PATCH_FRAMES} "
            f"(needs ≥ {WINDOW + (PATCH_FRAMES - 1) * HOP} samples at 16 kHz)"
        )
    patches = logmel[:, : n_patches * PATCH_FRAMES]
    return rearrange(patches, "b (n t) f -> b n t f", t=PATCH_FRAMES)


QUANTIZE_MIN, QUANTIZE_MAX = -2.0, 2.0


class VGGishPCA(nn.Module):
    """The released post-processing: ``round((clip(P (e - mu), -2, 2) + 2) * 255 / 4)`` per embedding, with
    P = ``pca_matrix`` (128, 128) and mu = ``pca_means`` (128, 1) (NaN until loaded: using it unloaded is an
    error, never a silent identity)."""

    pca_matrix: Tensor
    pca_means: Tensor

    def __init__(self, dim: int = 128) -> None:
        super().__init__()
        self.register_buffer("pca_matrix", torch.full((dim, dim), float("nan")))
        self.register_buffer("pca_means", torch.full((dim, 1), float("nan")))

    def forward(self, embeddings: Tensor) -> Tensor:
        """(N, 128) → (N, 128) quantised values in 0..255 (float)."""
        if torch.isnan(self.pca_matrix).any() or torch.isnan(self.pca_means).any():
            raise RuntimeError(
                "VGGish post-processing has no PCA parameters: load torchvggish's PCA file (pca_params) or a "
                "state dict with pproc.pca_matrix / pproc.pca_means"
            )
        pca = (self.pca_matrix @ (embeddings.T - self.pca_means)).T
        clipped = pca.clamp(QUANTIZE_MIN, QUANTIZE_MAX)
        return torch.round((clipped - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN)))


def load_pca_params(vggish: VGGish, path: str) -> None:
    """torchvggish's PCA file (``{"pca_eigen_vectors": (128, 128), "pca_means": (128,)}``, e.g.
    ``vggish_pca_params-970ea276.pth``) into ``vggish.pproc`` (which needs ``postprocess=True``)."""
    if vggish.pproc is None:
        raise ValueError("this VGGish has no post-processing: build it with postprocess=True")
    params = load_plain(path)  # numpy arrays, read without running pickled code
    matrix = torch.as_tensor(params["pca_eigen_vectors"], dtype=torch.float32)
    means = torch.as_tensor(params["pca_means"], dtype=torch.float32).reshape(-1, 1)
    if matrix.shape != vggish.pproc.pca_matrix.shape or means.shape != vggish.pproc.pca_means.shape:
        raise ValueError(f"{path}: PCA shapes {tuple(matrix.shape)}, {tuple(means.shape)} do not fit VGGish")
    vggish.pproc.pca_matrix.copy_(matrix)
    vggish.pproc.pca_means.copy_(means)


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.ReLU(inplace=True)]


def _pool() -> nn.Module:
    return nn.MaxPool2d(kernel_size=2, stride=2)


class VGGish(nn.Module):
    """Waveform (B, ch, S) → per-patch embeddings (B, 128, 1, n_patches); see the module docstring."""

    input_kind = "waveform"
    classifier_layout = None  # not a truncated classifier: load weights with source "encoder"
    optional_weight_prefixes = ("pproc.",)  # a torchvggish state dict's PCA: ignored without post-processing

    def __init__(self, sample_rate: int = VGGISH_SAMPLE_RATE, postprocess: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_conv(1, 64), _pool(),
            *_conv(64, 128), _pool(),
            *_conv(128, 256), *_conv(256, 256), _pool(),
            *_conv(256, 512), *_conv(512, 512), _pool(),
        )  # fmt: skip
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, 128),
        )
        self.pproc = VGGishPCA() if postprocess else None
        self.register_buffer("mel_matrix", vggish_mel_matrix(), persistent=False)
        self.sample_rate = sample_rate
        self.in_channels = 1  # any channel count is accepted and averaged to mono
        self.out_dim: int = 128

    def embed_patches(self, patches: Tensor) -> Tensor:
        """Log-mel patches (N, 96, 64) → embeddings (N, 128) (post-processed when ``postprocess``)."""
        x = self.features(patches.unsqueeze(1))  # (N, 512, 6, 4)
        x = rearrange(x, "n c h w -> n (h w c)")  # TF's NHWC flattening order
        x = self.embeddings(x)
        return x if self.pproc is None else self.pproc(x)

    def forward(self, wave: Tensor) -> Tensor:
        """(B, ch, S) → (B, 128, 1, n_patches)."""
        with torch.autocast(device_type=wave.device.type, enabled=False):
            patches = vggish_patches(wave, self.sample_rate, self.mel_matrix)  # (B, n, 96, 64)
        embeddings = self.embed_patches(rearrange(patches, "b n t f -> (b n) t f"))
        return rearrange(embeddings, "(b n) d -> b d 1 n", b=wave.shape[0])
