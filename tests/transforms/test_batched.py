"""SSL-TIE's batched on-device view generation against the per-sample reference ops."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from avssl.encoders import AudioCNNConfig, build_encoder
from avssl.transforms.batched import (
    AppearanceConfig,
    AudioAugConfig,
    GeometryConfig,
    augment_appearance,
    augment_waveform,
    sample_geometry,
    spec_masking,
    warp_frames,
)
from avssl.transforms.functional.appearance import IMAGENET_MEAN, IMAGENET_STD
from avssl.transforms.functional.geometry import HFlip, ResizedCrop, Rotate, apply_geometry_to_maps

SAMPLE_RATE = 16000


def test_sampled_chains_and_batched_warp_match_apply_geometry_to_maps() -> None:
    g = torch.Generator().manual_seed(1)
    cfg = GeometryConfig(crop_prob=1.0, hflip_prob=0.5, max_rotation=40.0)
    records = sample_geometry(6, (20, 28), cfg, g)
    kinds = [[type(r.op) for r in chain] for chain in records]
    assert all(k[0] is ResizedCrop and k[-1] is Rotate for k in kinds) and any(HFlip in k for k in kinds)
    assert all(r.in_size == (20, 28) == r.out_size for chain in records for r in chain)
    frames = torch.randn(6, 3, 20, 28, generator=g)
    want = apply_geometry_to_maps(records, frames, out_size=(20, 28))
    assert torch.allclose(warp_frames(frames, records), want, atol=1e-5)
    clips = torch.randn(6, 3, 2, 20, 28, generator=g)  # every frame of a clip gets the sample's transform
    assert torch.allclose(
        warp_frames(clips, records)[:, :, 1], apply_geometry_to_maps(records, clips[:, :, 1]), atol=1e-5
    )


def test_no_geometry_is_the_identity() -> None:
    records = sample_geometry(3, (16, 16), GeometryConfig(crop_prob=0.0, hflip_prob=0.0, max_rotation=0.0))
    assert records == [[], [], []]
    frames = torch.randn(3, 3, 16, 16)
    assert torch.allclose(warp_frames(frames, records), frames, atol=1e-5)


def _pixels_to_frames(pixels: Tensor) -> Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    return (pixels - mean) / std


def test_appearance_augmentation() -> None:
    g = torch.Generator().manual_seed(0)
    frames = _pixels_to_frames(torch.rand(3, 3, 2, 8, 8, generator=g))
    off = AppearanceConfig(jitter_prob=0.0, grayscale_prob=0.0)
    assert torch.allclose(augment_appearance(frames, off), frames, atol=1e-5)
    gray = augment_appearance(frames, AppearanceConfig(jitter_prob=0.0, grayscale_prob=1.0))
    pixels = gray * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1) + torch.tensor(IMAGENET_MEAN).view(
        1, 3, 1, 1, 1
    )
    assert torch.allclose(pixels[:, 0], pixels[:, 1], atol=1e-5) and torch.allclose(
        pixels[:, 1], pixels[:, 2], atol=1e-5
    )
    jittered = augment_appearance(frames[:, :, 0], AppearanceConfig(jitter_prob=1.0, grayscale_prob=0.0), g)
    assert jittered.shape == (3, 3, 8, 8) and not torch.allclose(jittered, frames[:, :, 0], atol=1e-3)


def test_waveform_augmentation_is_a_per_sample_gain_and_circular_shift() -> None:
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(4, 2, 400, generator=g)
    shifted = augment_waveform(audio, AudioAugConfig(gain_db=0.0, max_shift_s=0.01), SAMPLE_RATE, g)
    for b in range(4):
        shifts = [k for k in range(-160, 161) if torch.allclose(shifted[b], torch.roll(audio[b], k, dims=-1))]
        assert len(shifts) == 1  # both channels moved by the same shift, at most 0.01 s
    gained = augment_waveform(audio, AudioAugConfig(gain_db=6.0, max_shift_s=0.0), SAMPLE_RATE, g)
    ratio = gained / audio
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio), atol=1e-4)
    assert (ratio[:, 0, 0] >= 10 ** (-6 / 20) - 1e-6).all() and (
        ratio[:, 0, 0] <= 10 ** (6 / 20) + 1e-6
    ).all()


def test_spec_masking_hook_masks_with_silence_only_inside_the_block() -> None:
    encoder = build_encoder(AudioCNNConfig(name="audio_small", output_stride=16))
    frontend = encoder.frontend
    silence = frontend(torch.zeros(1, 1, 4000))
    assert torch.allclose(silence, torch.full_like(silence, frontend.silence_level()))
    wave = torch.randn(4, 1, 4000) + 1.0
    clean = frontend(wave)
    cfg = AudioAugConfig(spec_prob=1.0, spec_time_frac=0.5, spec_freq_frac=0.5)
    torch.manual_seed(3)
    with spec_masking(encoder, cfg):
        masked = frontend(wave)
    changed = ~torch.isclose(masked, clean)
    assert changed.any() and torch.allclose(masked[changed], torch.tensor(frontend.silence_level()))
    assert torch.equal(frontend(wave), clean)  # the hook is gone


def test_spec_masking_needs_a_log_mel_front_end() -> None:
    with pytest.raises(ValueError, match="log-mel"):
        with spec_masking(nn.Linear(2, 2), AudioAugConfig(spec_prob=1.0)):
            pass
