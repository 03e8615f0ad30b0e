"""SSL-TIE as released (github jinxiang-liu/SSL-TIE, datasets/dataloader.py with `--img_aug moco_v2`): view 1
gets colour jitter, grayscale, blur and flip on top of the crop; recipes/configs/ssl_tie.yaml's spectrogram is
the released one (3 s clip tiled to 10 s, torchaudio MelSpectrogram n_fft 512 / hop 239 / 257 mels,
normalized, AmplitudeToDB) — checked against a naive reimplementation; the CPU demo keeps its own views."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchaudio

from avssl.config import load_config
from avssl.encoders import AudioCNNConfig, Visual2dConfig, build_encoder
from avssl.encoders.audio import tile_waveform
from avssl.runner.specs import localization_data, recipe_schema
from avssl.tasks.ssl_tie import SSLTIE, SSLTIEConfig
from avssl.transforms import batched
from avssl.transforms.batched import AudioAugConfig

ROOT = Path(__file__).resolve().parents[2]
SSL_TIE_YAML = ROOT / "recipes" / "configs" / "ssl_tie.yaml"
DEMO_YAML = ROOT / "avssl" / "configs" / "demo_ssl_tie.yaml"
VIEW1 = {"random_resized_crop", "color_jitter", "random_grayscale", "gaussian_blur", "random_horizontal_flip"}


def _reference_spectrogram(samples: torch.Tensor, samplerate: int = 16000) -> torch.Tensor:
    """The released loader: tile to >= 10 s, cut at 10 s, MelSpectrogram(normalized) then AmplitudeToDB."""
    if samples.shape[1] < samplerate * 10:
        n = int(samplerate * 10 / samples.shape[1]) + 1
        samples = samples.repeat(1, n)
    samples = samples[..., : samplerate * 10]
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=samplerate, n_fft=512, hop_length=239, n_mels=257, normalized=True
    )(samples)
    return torchaudio.transforms.AmplitudeToDB()(mel)


@pytest.mark.parametrize("path", [None, SSL_TIE_YAML])
def test_view_one_gets_the_released_augmentation(path) -> None:
    cfg = load_config(recipe_schema("ssl_tie"), path)
    names = [t["name"] for t in cfg.data.transforms]
    assert VIEW1 <= set(names) and names[-1] == "normalize"
    blur = next(t for t in cfg.data.transforms if t["name"] == "gaussian_blur")
    assert blur["sigma"] == [0.1, 2.0] and blur["p"] == 0.5
    crop = next(t for t in cfg.data.transforms if t["name"] == "random_resized_crop")
    assert crop["scale"] == [0.3, 1.0]


def test_lvs_and_ezvsl_and_the_demo_keep_their_views() -> None:
    for task in ("lvs", "ezvsl"):
        assert load_config(recipe_schema(task)).data.transforms == localization_data().transforms
    demo = load_config(recipe_schema("ssl_tie"), DEMO_YAML)
    assert demo.data.transforms == localization_data().transforms  # the demo's figures were measured so


def test_ssl_tie_yaml_spectrogram_is_the_released_one() -> None:
    cfg = load_config(recipe_schema("ssl_tie"), SSL_TIE_YAML)
    assert cfg.data.duration_s == 3.0 and cfg.data.sample_rate == 16000
    frontend = build_encoder(cfg.model.audio).frontend
    gen = torch.Generator().manual_seed(0)
    wave = 0.3 * torch.randn(2, 1, 3 * 16000, generator=gen)
    with torch.no_grad():
        ours = frontend(wave)[:, 0]  # (B, 257, frames)
    reference = torch.stack([_reference_spectrogram(w)[0] for w in wave])
    assert ours.shape == reference.shape == (2, 257, 1 + 160000 // 239)
    torch.testing.assert_close(ours, reference, atol=1e-3, rtol=1e-5)


def test_tile_waveform() -> None:
    wave = torch.arange(5.0).view(1, 1, 5)
    assert tile_waveform(wave, 12).flatten().tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert tile_waveform(wave, 3).flatten().tolist() == [0, 1, 2]


def test_ssl_tie_yaml_masks_the_spectrogram_both_views_share() -> None:
    aug = load_config(recipe_schema("ssl_tie"), SSL_TIE_YAML).model.audio_aug
    assert aug.spec_views == "both" and aug.gain_db == 0 and aug.max_shift_s == 0 and aug.spec_prob == 0.8


@pytest.mark.parametrize(
    ("audio_aug", "masked_calls", "views_equal"),
    [
        (AudioAugConfig(spec_prob=1.0), 1, False),  # avssl's default: view 2 only, its own waveform
        (AudioAugConfig(spec_prob=1.0, spec_views="both", gain_db=0, max_shift_s=0), 1, True),  # released
        (AudioAugConfig(spec_prob=1.0, spec_views="both"), 2, False),  # both masked, view 2 also gained
    ],
)
def test_which_views_get_specaugment(audio_aug, masked_calls, views_equal, monkeypatch) -> None:
    """Count the masks drawn in one training step and see which audio embeddings the two views get."""
    calls: list[torch.Tensor] = []
    real = batched.mask_spectrogram

    def counting(spec, cfg, fill, generator=None):
        calls.append(spec)
        return real(spec, cfg, fill, generator)

    monkeypatch.setattr(batched, "mask_spectrogram", counting)
    torch.manual_seed(0)
    small = {"visual": Visual2dConfig(name="small"), "audio": AudioCNNConfig(name="audio_small")}
    task = SSLTIE(SSLTIEConfig(**small, audio_aug=audio_aug, use_equivariance=False))
    seen: list[torch.Tensor] = []
    task.contrastive.register_forward_hook(lambda module, args, out: seen.append(args[1].detach()))
    gen = torch.Generator().manual_seed(1)
    task(
        {
            "video": torch.randn(2, 3, 1, 64, 64, generator=gen),
            "audio": torch.randn(2, 1, 8000, generator=gen),
        }
    )
    assert len(calls) == masked_calls and len(seen) == 2
    assert torch.equal(seen[0], seen[1]) == views_equal
