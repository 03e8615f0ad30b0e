"""TPAVI: temporal pixel-wise audio-visual interaction (Zhou et al., "Audio-Visual Segmentation", ECCV 2022).

A non-local block (Wang et al., "Non-local Neural Networks", CVPR 2018, dot-product form) between the visual
features of all T frames and the audio feature of each frame broadcast over that frame's pixels (paper Sec.
3.2, Eq. 1–2), structured as the authors' released module:

    A = broadcast(W_a · a)                       a: (B, T, D_a) → (B, C, T, h, w), constant over (h, w)
    f_ij = θ(V_i) · φ(A_j) / N                   i, j over the N = T·h·w positions
    Y_i  = Σ_j f_ij g(V_j)
    Z    = LayerNorm_C(V + BN(W_z(Y)))           θ, φ, g, W_z: 1×1×1 convolutions, C' = C / 2

``w_z`` is the released ``W_z``: the 1×1×1 convolution followed by a BatchNorm3d whose scale and shift start
at zero (so an untrained block passes LayerNorm(V) on); the LayerNorm over channels is the released
``norm_layer``. The released ``align_channel`` (W_a) is ``align_audio`` here.

Because A is constant over a frame's pixels, φ(A_j) depends only on j's frame t(j), and the N×N product
collapses exactly to  Y_i = θ(V_i)ᵀ M,  M = (1/N) Σ_t φ(a_t) (Σ_{h,w} g(V_t,h,w))ᵀ  (a C'×C' matrix per
clip): O(N·C'²) instead of O(N²·C'). :meth:`TPAVI.attention` returns the full N×N matrix for checks.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn


class TPAVI(nn.Module):
    """Visual (B, C, T, h, w) + audio (B, T, D_a) → fused visual (B, C, T, h, w) and audio (B, T, C)."""

    def __init__(self, channels: int, audio_dim: int, inter_channels: int | None = None) -> None:
        super().__init__()
        inter = inter_channels or max(1, channels // 2)
        self.align_audio = nn.Linear(audio_dim, channels)  # W_a: audio into the visual channel space
        self.theta = nn.Conv3d(channels, inter, kernel_size=1)
        self.phi = nn.Conv3d(channels, inter, kernel_size=1)
        self.g = nn.Conv3d(channels, inter, kernel_size=1)
        self.w_z = nn.Sequential(nn.Conv3d(inter, channels, kernel_size=1), nn.BatchNorm3d(channels))
        nn.init.zeros_(self.w_z[1].weight)  # as released: the block starts as LayerNorm(V)
        nn.init.zeros_(self.w_z[1].bias)
        self.norm = nn.LayerNorm(channels)
        self.channels, self.inter_channels = channels, inter

    def audio_features(self, audio: Tensor) -> Tensor:
        """(B, T, D_a) → (B, T, C): the audio in the visual channel space (also used by the AVM loss)."""
        return self.align_audio(audio)

    def _phi_audio(self, audio_c: Tensor) -> Tensor:
        """φ of the broadcast audio, one vector per frame: (B, T, C) → (B, C', T)."""
        weight = self.phi.weight.flatten(1)  # (C', C): a 1×1×1 conv on a constant map is a linear map
        return torch.einsum("btc,kc->bkt", audio_c, weight) + self.phi.bias[None, :, None]

    def interact(self, visual: Tensor, audio_c: Tensor) -> Tensor:
        """Y (B, C', T, h, w) = Σ_j f_ij g(V_j) through the C'×C' collapse (module docstring)."""
        n = visual.shape[2] * visual.shape[3] * visual.shape[4]
        theta = self.theta(visual)  # (B, C', T, h, w)
        g_sum = self.g(visual).sum(dim=(3, 4))  # (B, C', T): Σ over each frame's pixels
        m = torch.einsum("bkt,blt->bkl", self._phi_audio(audio_c), g_sum) / n  # (B, C', C')
        return torch.einsum("bktxy,bkl->bltxy", theta, m)

    def output(self, visual: Tensor, y: Tensor) -> Tensor:
        """Z = LayerNorm_C(V + BN(W_z(Y))), (B, C, T, h, w)."""
        z = visual + self.w_z(y)
        z = self.norm(rearrange(z, "b c t h w -> b t h w c"))
        return rearrange(z, "b t h w c -> b c t h w")

    def forward(self, visual: Tensor, audio: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, T, h, w), (B, T, D_a) → (Z (B, C, T, h, w), audio in C channels (B, T, C))."""
        if visual.ndim != 5 or audio.ndim != 3 or audio.shape[:2] != (visual.shape[0], visual.shape[2]):
            raise ValueError(
                f"TPAVI needs visual (B, C, T, h, w) and audio (B, T, D); got {tuple(visual.shape)}, {tuple(audio.shape)}"
            )
        audio_c = self.audio_features(audio)  # (B, T, C)
        return self.output(visual, self.interact(visual, audio_c)), audio_c

    def attention(self, visual: Tensor, audio: Tensor) -> Tensor:
        """The explicit (B, N, N) matrix f_ij = θ(V_i)·φ(A_j)/N over positions (t, h, w) (for tests)."""
        b, _, t, h, w = visual.shape
        audio_c = self.audio_features(audio)
        broadcast = audio_c.transpose(1, 2)[..., None, None].expand(b, self.channels, t, h, w)
        theta = self.theta(visual).flatten(2)  # (B, C', N)
        phi = self.phi(broadcast.contiguous()).flatten(2)
        return torch.einsum("bki,bkj->bij", theta, phi) / (t * h * w)
