"""The three binaural pretext tasks of multi-task self-supervision, each a head + a classification loss.

Paper: Vasudevan, Dai & Van Gool, "Sound and Visual Representation Learning with Multiple Pretraining Tasks",
CVPR 2022: self-supervised learning from binaural audio and video with
several pretext tasks learned jointly or incrementally (evaluated on OmniAudio). The tasks:

(a) **spatial alignment** — is the binaural audio's left/right consistent with the video? Negatives swap
    the two audio channels, or (the flipped-video variant) mirror the frames horizontally; 2 classes.
(b) **temporal synchronisation** — of two audio windows of the same clip, one of the frames' instant and
    one shifted by Δ (|Δ| ≥ `sync_min_shift_s`) *within the same clip* (a hard negative: same sources,
    same room, only the time differs), which one is shifted; 2 classes.
(c) **temporal gap** — two clips (frames) of the same video: classify their time gap into `gap_bins`
    (inclusive ranges of frame gaps; the clip order is randomised so only |gap| matters); len(bins) classes.

A sample holds a window of T frames and S audio samples (one window of the dataset); a *clip* inside it
is `clip_frames` frames starting at frame k and the `audio_s` seconds of audio centred on them. Every
pretext first draws a **plan** (frame indices, shifts, labels: a dict of (B,) tensors) from a
`torch.Generator` (None = the global generator, which the training loop seeds and checkpoints: exact
resume), then computes logits for it — so a frozen teacher can be asked the very same questions
(output distillation in incremental learning) and evaluation can fix its plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from avssl.heads.pretext import GridPool, PretextClassifier

PRETEXTS = ("spatial", "sync", "gap")


@dataclass
class PretextConfig:
    """Clip geometry and the pretext tasks' options (frames and seconds inside a sample window)."""

    clip_frames: int = 1
    audio_s: float = 0.5
    negatives: list[str] = field(default_factory=lambda: ["swap", "flip"])  # spatial-alignment negatives
    sync_min_shift_s: float = 1.5
    gap_bins: list[list[int]] = field(default_factory=lambda: [[1, 2], [4, 6], [8, 11]])
    reduce_dim: int = 32
    grid: int = 4
    hidden_dim: int = 256


def frames_at(video: Tensor, start: Tensor, n: int) -> Tensor:
    """Frames start..start+n−1 of each sample: (B, C, T, H, W) → (B, C, H, W) for n = 1, else (B, C, n, H, W)."""
    idx = start[:, None] + torch.arange(n, device=video.device)  # (B, n)
    b = torch.arange(video.shape[0], device=video.device)[:, None]
    clip = video.permute(0, 2, 1, 3, 4)[b, idx]  # (B, n, C, H, W)
    return clip[:, 0] if n == 1 else clip.transpose(1, 2)


def audio_at(audio: Tensor, start: Tensor, length: int) -> Tensor:
    """Samples start..start+length−1 of each sample: (B, ch, S) → (B, ch, length)."""
    idx = start[:, None] + torch.arange(length, device=audio.device)  # (B, L)
    return audio.gather(2, idx[:, None, :].expand(-1, audio.shape[1], -1))


def _uniform_int(high: Tensor | int, shape: int, generator: torch.Generator | None) -> Tensor:
    """Integers uniform in [0, high) (elementwise when `high` is a tensor), drawn on the CPU."""
    u = torch.rand(shape, generator=generator)
    return (u * torch.as_tensor(high, dtype=torch.float64)).floor().long()


class ClipGeometry:
    """Where clips sit in a batch's window: frame count T, samples per frame, audio clip length."""

    def __init__(self, batch: dict, cfg: PretextConfig):
        video, audio = batch["video"], batch["audio"]
        self.batch_size, self.frames, self.samples = video.shape[0], video.shape[2], audio.shape[-1]
        self.samples_per_frame = self.samples / self.frames
        self.audio_len = int(round(cfg.audio_s * batch["sample_rate"]))
        self.clip_frames = cfg.clip_frames
        if self.audio_len > self.samples or cfg.clip_frames > self.frames:
            raise ValueError(
                f"a clip of {cfg.clip_frames} frames / {cfg.audio_s} s does not fit the sample window "
                f"({self.frames} frames, {self.samples} samples): lengthen data.duration_s"
            )

    def audio_start(self, frame: Tensor) -> Tensor:
        """Start sample of the audio clip centred on the clip beginning at `frame` (clamped into the window)."""
        centre = (frame.double() + self.clip_frames / 2) * self.samples_per_frame
        start = (centre - self.audio_len / 2).round().long()
        return start.clamp(0, self.samples - self.audio_len)

    def random_frame(self, generator: torch.Generator | None, margin: Tensor | int = 0) -> Tensor:
        """A clip start frame uniform in [0, T − clip_frames − margin]."""
        return _uniform_int(
            self.frames - self.clip_frames - torch.as_tensor(margin) + 1, self.batch_size, generator
        )


class Pretext(nn.Module):
    """Base of the binaural pretexts: `plan(batch, generator)` then `forward(encoders, batch, plan)`."""

    num_classes: int

    def __init__(self, cfg: PretextConfig):
        super().__init__()
        self.cfg = cfg

    def plan(self, batch: dict, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        raise NotImplementedError

    def forward(self, encoders: nn.ModuleDict, batch: dict, plan: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError


def pooled_audio(encoders: nn.ModuleDict, audio: Tensor) -> Tensor:
    """(B, 2, L) → (B, D): the binaural encoder's map averaged over frequency and time."""
    return encoders["audio"](audio).flatten(2).mean(2)


class SpatialAlignment(Pretext):
    """(a) left/right consistent (label 0) or not (label 1: ears swapped, or frames mirrored)."""

    num_classes = 2

    def __init__(self, cfg: PretextConfig, visual_dim: int, audio_dim: int):
        super().__init__(cfg)
        unknown = set(cfg.negatives) - {"swap", "flip"}
        if unknown or not cfg.negatives:
            raise ValueError(
                f"spatial negatives must be a non-empty subset of ['swap', 'flip'], got {cfg.negatives}"
            )
        self.pool = GridPool(visual_dim, cfg.reduce_dim, cfg.grid)
        self.head = PretextClassifier(self.pool.out_dim + audio_dim, 2, cfg.hidden_dim)

    def plan(self, batch: dict, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        geo = ClipGeometry(batch, self.cfg)
        label = _uniform_int(2, geo.batch_size, generator)
        kind = _uniform_int(len(self.cfg.negatives), geo.batch_size, generator)
        flip = torch.tensor([n == "flip" for n in self.cfg.negatives])[kind] & (label == 1)
        frame = geo.random_frame(generator)
        return {"label": label, "frame": frame, "flip": flip, "swap": (label == 1) & ~flip}

    def forward(self, encoders: nn.ModuleDict, batch: dict, plan: dict[str, Tensor]) -> Tensor:
        geo = ClipGeometry(batch, self.cfg)
        device = batch["video"].device
        frame = plan["frame"].to(device)
        frames = frames_at(batch["video"], frame, geo.clip_frames)
        flip = plan["flip"].to(device).view(-1, *[1] * (frames.ndim - 1))
        frames = torch.where(flip, frames.flip(-1), frames)
        audio = audio_at(batch["audio"], geo.audio_start(frame), geo.audio_len)
        audio = torch.where(plan["swap"].to(device).view(-1, 1, 1), audio.flip(1), audio)
        fused = torch.cat([self.pool(encoders["visual"](frames)), pooled_audio(encoders, audio)], dim=1)
        return self.head(fused)


class TemporalSync(Pretext):
    """(b) which of two audio windows of the same clip is synchronised with the frames: the frames' own
    instant, or the same clip shifted by ≥ `sync_min_shift_s` (a hard negative: same sources, same room).
    The two windows come in random order; label = the slot of the shifted one (0 or 1).

    A shared scorer rates each (frames, window) pair for being out of sync, and the two scores are the
    logits: the choice is symmetric in the two windows by construction, so the head learns one
    frames-vs-audio compatibility rather than memorising pairs. (A verdict on a single pair stayed at
    chance on the synthetic set in 150 steps, and an unconstrained MLP over both windows fit the training
    clips without generalising.) Chance is 50%."""

    num_classes = 2

    def __init__(self, cfg: PretextConfig, visual_dim: int, audio_dim: int):
        super().__init__(cfg)
        self.pool = GridPool(visual_dim, cfg.reduce_dim, cfg.grid)
        self.head = PretextClassifier(self.pool.out_dim + audio_dim, 1, cfg.hidden_dim)

    def plan(self, batch: dict, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        geo = ClipGeometry(batch, self.cfg)
        label = _uniform_int(2, geo.batch_size, generator)
        frame = geo.random_frame(generator)
        own = geo.audio_start(frame)
        # the shifted window is the audio clip of another frame (so both windows sit on the frame grid:
        # no sub-frame offset tells them apart) whose start is ≥ the minimum shift away; uniform over those
        candidates = geo.audio_start(torch.arange(geo.frames - geo.clip_frames + 1))  # (F,)
        gap = self.cfg.sync_min_shift_s * batch["sample_rate"]
        allowed = (candidates[None, :] - own[:, None]).abs() >= gap  # (B, F)
        if not bool(allowed.any(1).all()):
            raise ValueError(
                f"no audio shift of ≥ {self.cfg.sync_min_shift_s} s fits a {geo.samples}-sample window: "
                "lower sync_min_shift_s or lengthen data.duration_s"
            )
        u = torch.rand(allowed.shape, generator=generator)
        shifted = candidates[torch.where(allowed, u, -1.0).argmax(1)]
        first, second = torch.where(label == 1, own, shifted), torch.where(label == 1, shifted, own)
        return {"label": label, "frame": frame, "audio_start": torch.stack([first, second], 1)}

    def forward(self, encoders: nn.ModuleDict, batch: dict, plan: dict[str, Tensor]) -> Tensor:
        geo = ClipGeometry(batch, self.cfg)
        device = batch["video"].device
        frames = frames_at(batch["video"], plan["frame"].to(device), geo.clip_frames)
        starts = plan["audio_start"].to(device)
        windows = [audio_at(batch["audio"], starts[:, i], geo.audio_len) for i in range(2)]
        audio = pooled_audio(encoders, torch.cat(windows))  # (2B, D): one encoder pass for both
        visual = self.pool(encoders["visual"](frames)).repeat(2, 1)  # (2B, P)
        scores = self.head(torch.cat([visual, audio], dim=1))  # (2B, 1): "out of sync" score per window
        return torch.cat(scores.chunk(2), dim=1)  # (B, 2) logits over the two slots


class TemporalGap(Pretext):
    """(c) the gap between two clips of one video, classified into `gap_bins` (frames, inclusive ranges);
    bins are drawn uniformly (chance = 1 / number of bins), the gap uniformly inside its bin."""

    def __init__(self, cfg: PretextConfig, visual_dim: int, audio_dim: int):
        super().__init__(cfg)
        if not cfg.gap_bins or any(len(b) != 2 or not 1 <= b[0] <= b[1] for b in cfg.gap_bins):
            raise ValueError(f"gap_bins must be [lo, hi] frame ranges with 1 ≤ lo ≤ hi, got {cfg.gap_bins}")
        self.num_classes = len(cfg.gap_bins)
        self.pool = GridPool(visual_dim, cfg.reduce_dim, cfg.grid)
        self.head = PretextClassifier(3 * self.pool.out_dim, self.num_classes, cfg.hidden_dim)

    def plan(self, batch: dict, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        geo = ClipGeometry(batch, self.cfg)
        bins = torch.tensor(self.cfg.gap_bins)  # (K, 2)
        if int(bins[:, 1].max()) > geo.frames - geo.clip_frames:
            raise ValueError(f"gap bins {self.cfg.gap_bins} do not fit {geo.frames} frames per sample")
        label = _uniform_int(len(bins), geo.batch_size, generator)
        lo, hi = bins[label, 0], bins[label, 1]
        gap = lo + _uniform_int(hi - lo + 1, geo.batch_size, generator)
        first = geo.random_frame(generator, margin=gap)
        swap = _uniform_int(2, geo.batch_size, generator).bool()
        a, b = torch.where(swap, first + gap, first), torch.where(swap, first, first + gap)
        return {"label": label, "frame_a": a, "frame_b": b}

    def forward(self, encoders: nn.ModuleDict, batch: dict, plan: dict[str, Tensor]) -> Tensor:
        n, device = self.cfg.clip_frames, batch["video"].device
        clip_a = frames_at(batch["video"], plan["frame_a"].to(device), n)
        clip_b = frames_at(batch["video"], plan["frame_b"].to(device), n)
        both = self.pool(encoders["visual"](torch.cat([clip_a, clip_b])))  # (2B, P): one encoder pass
        fa, fb = both.chunk(2)
        return self.head(torch.cat([fa, fb, (fa - fb).abs()], dim=1))


PRETEXT_CLASSES: dict[str, type[Pretext]] = {
    "spatial": SpatialAlignment,
    "sync": TemporalSync,
    "gap": TemporalGap,
}
