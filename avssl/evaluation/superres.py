"""Downstream: spatial sound super-resolution from a frozen multi-SSL model (binaural reconstruction).

The frozen visual encoder describes each frame (its map average-pooled onto a 2 × 4 grid, so left/right is
kept); a `SpatialSuperResolution` head learns, from the mono mix L + R of a clip and its frame's
descriptor, the left−right STFT (2.5D Visual Sound, Gao & Grauman 2019). Scored on held-out clips with the
STFT and envelope distances (`avssl.evaluation.binaural_metrics`) next to the mono baseline (D̂ = 0:
both ears get the half mix), lower is better.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from avssl.data.loader import build_loader
from avssl.evaluation.binaural_metrics import HOP, N_FFT, WIN, envelope_distance, stft_distance
from avssl.heads.binaural_superres import SpatialSuperResolution, apply_mask
from avssl.tasks.binaural_pretext import ClipGeometry, audio_at


@dataclass
class SuperResConfig:
    """Head training: steps, batch size, learning rate, seed."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0


def _stft(wave: Tensor) -> Tensor:
    """(B, S) → (B, 2, F, T) real/imag (the metrics' STFT, float32)."""
    window = torch.hann_window(WIN, periodic=True, device=wave.device)
    spec = torch.stft(wave, N_FFT, HOP, WIN, window, center=True, pad_mode="reflect", return_complex=True)
    return torch.stack([spec.real, spec.imag], dim=1)


def _istft(spec: Tensor, length: int) -> Tensor:
    window = torch.hann_window(WIN, periodic=True, device=spec.device)
    return torch.istft(
        torch.complex(spec[:, 0], spec[:, 1]), N_FFT, HOP, WIN, window, center=True, length=length
    )


@torch.no_grad()
def _frozen_inputs(task, dataset) -> tuple[Tensor, Tensor, Tensor]:
    """Per clip: frame descriptors (N, T, P), audio windows (N, 2, S), and frame → audio geometry."""
    descriptors, audio = [], []
    for batch in build_loader(dataset, 16, 0):
        maps = task.encoders["visual"](batch["video"])  # (B, D, T, h, w)
        pooled = F.adaptive_avg_pool3d(maps, (maps.shape[2], 2, 4))  # (B, D, T, 2, 4)
        descriptors.append(pooled.permute(0, 2, 1, 3, 4).flatten(2))
        audio.append(batch["audio"])
        geometry = ClipGeometry(batch, task.cfg.pretext)
    return torch.cat(descriptors), torch.cat(audio), geometry


def _clips(descriptors: Tensor, audio: Tensor, geo: ClipGeometry, frame: Tensor) -> tuple[Tensor, Tensor]:
    rows = torch.arange(len(frame))
    return descriptors[rows, frame], audio_at(audio, geo.audio_start(frame), geo.audio_len)


def train_superres(task, train_set, test_set, cfg: SuperResConfig = SuperResConfig()) -> dict[str, float]:
    """Train the head on `train_set` clips (random frames), score `test_set` centre clips; returns
    {"stft", "envelope", "mono_stft", "mono_envelope", "n"} (means over test clips)."""
    task.eval()
    train_desc, train_audio, geo = _frozen_inputs(task, train_set)
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    head = SpatialSuperResolution(train_desc.shape[-1])
    optimizer = torch.optim.Adam(head.parameters(), lr=cfg.lr)
    for _ in range(cfg.steps):
        pick = torch.randint(0, len(train_audio), (cfg.batch_size,), generator=generator)
        frame = torch.randint(0, geo.frames - geo.clip_frames + 1, (cfg.batch_size,), generator=generator)
        desc, clip = _clips(train_desc[pick], train_audio[pick], geo, frame)
        mixture, difference = _stft(clip[:, 0] + clip[:, 1]), _stft(clip[:, 0] - clip[:, 1])
        loss = F.mse_loss(apply_mask(head(mixture, desc), mixture), difference)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    head.eval()
    test_desc, test_audio, geo = _frozen_inputs(task, test_set)
    centre = torch.full((len(test_audio),), (geo.frames - geo.clip_frames) // 2)
    desc, clip = _clips(test_desc, test_audio, geo, centre)
    with torch.no_grad():
        mix = clip[:, 0] + clip[:, 1]
        mixture = _stft(mix)
        diff = _istft(apply_mask(head(mixture, desc), mixture), clip.shape[-1])
    scores = {"stft": 0.0, "envelope": 0.0, "mono_stft": 0.0, "mono_envelope": 0.0}
    for b in range(len(clip)):
        predicted = torch.stack([(mix[b] + diff[b]) / 2, (mix[b] - diff[b]) / 2])
        mono = torch.stack([mix[b] / 2, mix[b] / 2])
        scores["stft"] += stft_distance(predicted, clip[b])
        scores["envelope"] += envelope_distance(predicted, clip[b])
        scores["mono_stft"] += stft_distance(mono, clip[b])
        scores["mono_envelope"] += envelope_distance(mono, clip[b])
    return {**{k: v / len(clip) for k, v in scores.items()}, "n": len(clip)}
