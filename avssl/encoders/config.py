"""Typed configuration of the encoder registry (mirrored by the ``encoder:`` sections of recipe YAML).

:class:`EncoderConfig` names a registry entry and carries the few options the families need; the
front-end sub-configs hold the signal-processing numbers, each documented with where it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from avssl.transforms.functional.appearance import IMAGENET_MEAN, IMAGENET_STD


@dataclass
class AudioFrontEndConfig:
    """Log-mel front end of the waveform audio encoders (:class:`avssl.encoders.audio.LogMelFrontEnd`).

    Window/hop default to the 25 ms / 10 ms used by VGGish (Hershey et al., "CNN Architectures for
    Large-Scale Audio Classification", ICASSP 2017) and most AV work;
    ``win_length = round(sample_rate * win_ms / 1000)`` (400 at 16 kHz), ``hop = 160``. The mel filters
    default to librosa's (Slaney scale, Slaney area norm) so ``librosa.feature.melspectrogram`` with the
    same numbers is an exact reference. ``log_mode``: ``"log"`` = ln(mel + log_offset), ``"db"`` =
    10·log10(max(mel, log_offset)). The log-mel is then standardised as (x − mean) / std (defaults: none).
    ``sample_rate`` is the rate of the waveform fed to the encoder (VGGish resamples it to 16 kHz).
    """

    sample_rate: int = 16000
    n_mels: int = 64
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    f_min: float = 0.0
    f_max: float | None = None
    power: float = 2.0
    center: bool = True
    mel_scale: Literal["slaney", "htk"] = "slaney"
    mel_norm: Literal["slaney"] | None = "slaney"
    log_mode: Literal["log", "db"] = "log"
    log_offset: float = 1e-6
    mean: float = 0.0
    std: float = 1.0


@dataclass
class BinauralFrontEndConfig:
    """STFT of the binaural front end (:class:`avssl.encoders.binaural.BinauralFrontEnd`).

    n_fft 512, hop 160, window 400 (Hann) on 16 kHz audio, as in Vasudevan, Dai & Van Gool,
    "Sound and Visual Representation Learning with Multiple Pretraining Tasks", CVPR 2022. ``log_offset``
    guards ln|X|; ``eps`` guards the ILD ratio and the IPD normalisation.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    win_length: int = 400
    log_offset: float = 1e-6
    eps: float = 1e-10


@dataclass
class FlowConfig:
    """Optical flow (RAFT-small: Teed & Deng, "RAFT: Recurrent All-Pairs Field Transforms for Optical Flow",
    ECCV 2020) for the ``motion_flow_*`` encoders.

    ``raft_weights`` is a local file holding a torchvision ``raft_small`` state dict: nothing is ever
    downloaded, and the flow encoders refuse to build without it. ``mean``/``std`` undo the video
    normalisation (RAFT wants frames in [-1, 1]). ``num_updates`` = RAFT's recurrent refinement steps.
    """

    raft_weights: str | None = None
    num_updates: int = 12
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


@dataclass
class EncoderConfig:
    """Which encoder to build and which weights to load into it.

    - ``name``: a key of :data:`avssl.encoders.ENCODERS`.
    - ``weights``: a local path or None (random init). ``weights_source`` says how to read it:
      ``"encoder"`` = a state dict of this encoder (torch or safetensors file, possibly nested under
      'state_dict'/'model', 'module.' prefixes stripped); ``"classifier"`` = a state dict of the full
      classification network the encoder truncates (torchvision ``resnet18().state_dict()``,
      ``r3d_18()``, pytorchvideo X3D/Slow): head keys ignored, first conv adapted to ``in_channels``;
      ``"run"`` = an avssl run directory (``RUN/model/model.safetensors``).
    - ``weights_prefix``: keep only keys under this prefix (e.g. ``"visual_encoder."``) and strip it.
    - ``strict``: missing/unexpected/mis-shaped keys are an error; if False they are warned about.
    - ``in_channels``: input channels of the visual/video CNNs (None = 3); audio encoders fix their own.
    - ``output_stride``: 32 or 16 for the 2D ResNets (16 → 14×14 maps at 224 px, for localization);
      8, 16 or 32 for the small CPU encoders (8 → 14×14 maps at 112 px).
    """

    name: str
    weights: str | None = None
    weights_source: Literal["encoder", "classifier", "run"] = "encoder"
    weights_prefix: str = ""
    strict: bool = True
    in_channels: int | None = None
    output_stride: Literal[32, 16, 8] = 32
    audio: AudioFrontEndConfig = field(default_factory=AudioFrontEndConfig)
    binaural: BinauralFrontEndConfig = field(default_factory=BinauralFrontEndConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
