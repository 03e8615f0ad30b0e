"""Typed configuration of the encoder registry (mirrored by the ``model.visual`` / ``model.audio`` … sections
of recipe YAML).

:class:`EncoderConfig` holds what every encoder has (its registry name and the weights to load); one small
subclass per encoder family adds only the options that apply to that family, so a resolved config carries
no section of another family. ``avssl.encoders.ENCODERS`` maps each name to its family's config class and
builder; a section of YAML is read into the class its ``name`` selects (``avssl.encoders.AnyEncoderConfig``).

The front-end sub-configs hold the signal-processing numbers, each documented with where it comes from.
Facts of the data are not restated here: a ``sample_rate`` or ``mean``/``std`` left at None is the data's
(``data.sample_rate``, the ``normalize`` step of the data transforms), filled in when a recipe config is
resolved (:func:`avssl.runner.data_facts.derive_data_facts`); a value that disagrees with the data is a ConfigError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DEFAULT_SAMPLE_RATE = 16000  # the batch contract's default (docs/architecture.md), for encoders built alone


@dataclass
class AudioFrontEndConfig:
    """Log-mel front end of the waveform audio encoders (:class:`avssl.encoders.audio.LogMelFrontEnd`).

    Window/hop default to the 25 ms / 10 ms used by VGGish (Hershey et al., "CNN Architectures for
    Large-Scale Audio Classification", ICASSP 2017) and most AV work;
    ``win_length = round(sample_rate * win_ms / 1000)`` (400 at 16 kHz), ``hop = 160``. The mel filters
    default to librosa's (Slaney scale, Slaney area norm) so ``librosa.feature.melspectrogram`` with the
    same numbers is an exact reference. ``log_mode``: ``"log"`` = ln(mel + log_offset), ``"db"`` =
    10·log10(max(mel, log_offset)). The log-mel is then standardised as (x − mean) / std (defaults: none).
    ``sample_rate`` is the rate of the waveform fed to the encoder: None = the data's rate (16 kHz, the
    batch contract's default, for an encoder built on its own). ``normalized``: the STFT scaled by the window's
    energy (torchaudio's ``normalized=True``, as SSL-TIE's released spectrogram). ``repeat_s``: the waveform
    is first tiled (repeated from its start) to this many seconds and cut there, as the LVS / SSL-TIE code
    tiles its 3 s clips to 10 s (None: as given). ``spectrogram``: ``"mel"`` (this log-mel) or ``"psd"``: the
    log power spectral density of ``scipy.signal.spectrogram`` (n_fft-sample periodic Tukey-0.25 segments
    every hop, no mel filters; :class:`avssl.encoders.audio.PSDFrontEnd`), the LVS / EZ-VSL released input;
    ``clip``: the waveform is limited to [-1, 1] first (as they do).
    """

    sample_rate: int | None = None
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
    normalized: bool = False
    repeat_s: float | None = None
    spectrogram: Literal["mel", "psd"] = "mel"
    clip: bool = False


@dataclass
class BinauralFrontEndConfig:
    """STFT of the binaural front end (:class:`avssl.encoders.binaural.BinauralFrontEnd`).

    n_fft 512, hop 160, window 400 (Hann) on 16 kHz audio, as in Vasudevan, Dai & Van Gool,
    "Sound and Visual Representation Learning with Multiple Pretraining Tasks", CVPR 2022. ``log_offset``
    guards ln|X|; ``eps`` guards the ILD ratio and the IPD normalisation. ``sample_rate`` (None = the
    data's) is the rate those sample counts assume.
    """

    sample_rate: int | None = None
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
    normalisation (RAFT wants frames in [-1, 1]): None = the data's normalisation (ImageNet statistics for
    an encoder built on its own). ``num_updates`` = RAFT's recurrent refinement steps.
    """

    raft_weights: str | None = None
    num_updates: int = 12
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


@dataclass
class EncoderConfig:
    """What every encoder config has: which registry entry to build and which weights to load into it.

    - ``name``: a key of :data:`avssl.encoders.ENCODERS` (it selects the family config class).
    - ``weights``: a local path or None (random init). ``weights_source`` says how to read it:
      ``"encoder"`` = a state dict of this encoder (torch or safetensors file, possibly nested under
      'state_dict'/'model', 'module.' prefixes stripped); ``"classifier"`` = a state dict of the full
      classification network the encoder truncates (torchvision ``resnet18().state_dict()``,
      ``r3d_18()``, pytorchvideo X3D/Slow): head keys ignored, first conv adapted to ``in_channels``;
      ``"run"`` = an avssl run directory (``RUN/model/model.safetensors``); the PVT-v2 family also reads
      ``"timm"`` and ``"pvt_original"`` files (:class:`PVTConfig`).
    - ``weights_prefix``: keep only keys under this prefix (e.g. ``"visual_encoder."``) and strip it.
    - ``strict``: missing/unexpected/mis-shaped keys are an error; if False they are warned about.
    """

    name: str
    weights: str | None = None
    weights_source: Literal["encoder", "classifier", "run"] = "encoder"
    weights_prefix: str = ""
    strict: bool = True


@dataclass
class Visual2dConfig(EncoderConfig):
    """2D frame CNNs (``resnet18``/``resnet50``, ``small``/``small_context``).

    ``in_channels``: input channels (None = 3). ``output_stride``: 32 or 16 for the ResNets (16 → 14×14 maps
    at 224 px, for localization); 8, 16 or 32 for the small CPU encoders (8 → 14×14 maps at 112 px).
    ``dilate`` (ResNets at output stride 16): True = the last stage dilated (DeepLab); False = the last stage
    at stride 1 without dilation, as the released LVS / SSL-TIE ResNet-18 (Chen et al., CVPR 2021).
    """

    in_channels: int | None = None
    output_stride: Literal[32, 16, 8] = 32
    dilate: bool = True


@dataclass
class Video3dConfig(EncoderConfig):
    """3D video CNNs (``r3d_18``, ``r2plus1d_18``, ``x3d_s``, ``slow_r50``, the CPU-scale ``small_3d``);
    fixed output stride.
    ``in_channels``: input channels (None = 3)."""

    in_channels: int | None = None


@dataclass
class AudioCNNConfig(EncoderConfig):
    """Log-mel CNNs (``audio_resnet18``/``audio_resnet50``, ``audio_small``): mono input, so no
    ``in_channels``; ``output_stride`` and ``dilate`` as the 2D ResNets (32 | 16; 8 for ``audio_small``)."""

    output_stride: Literal[32, 16, 8] = 32
    dilate: bool = True
    audio: AudioFrontEndConfig = field(default_factory=AudioFrontEndConfig)


@dataclass
class VGGishConfig(EncoderConfig):
    """VGGish (its own fixed front end, Hershey et al. 2017). ``sample_rate``: the rate of the waveform it
    is fed (None = the data's); it resamples to 16 kHz itself. ``postprocess``: the released AudioSet
    post-processing (PCA + whitening, 8-bit quantisation) on the embeddings; its parameters from the weights
    (a torchvggish state dict with ``pproc.*``) or ``pca_params`` (torchvggish's PCA file)."""

    sample_rate: int | None = None
    postprocess: bool = False
    pca_params: str | None = None


@dataclass
class BinauralConfig(EncoderConfig):
    """Binaural encoders (``binaural_resnet18``, ``binaural_small``): 2 channels fixed."""

    output_stride: Literal[32, 16, 8] = 32
    binaural: BinauralFrontEndConfig = field(default_factory=BinauralFrontEndConfig)


@dataclass
class MotionConfig(EncoderConfig):
    """Motion encoders (``motion_{diff,flow}_{r3d_18,r2plus1d_18}``): RGB clips in, fixed stride; ``flow``
    applies to the ``motion_flow_*`` entries."""

    flow: FlowConfig = field(default_factory=FlowConfig)


@dataclass
class PVTConfig(EncoderConfig):
    """Pyramid Vision Transformer v2 (``pvt_v2_b2``/``pvt_v2_b5``, via timm): RGB in, stride 32.

    ``weights_source`` takes, besides ``"encoder"`` and ``"run"``: ``"timm"`` = a state dict of timm's
    classifier ``pvt_v2_b*`` (the ImageNet ``model.safetensors`` / ``pytorch_model.bin`` timm publishes as
    ``timm/pvt_v2_b5.in1k``; ``"classifier"`` means the same here, timm's classifier being the network this
    encoder truncates), ``"pvt_original"`` = the original PVT-v2 release's layout (``pvt_v2_b5.pth`` of
    Wang et al.; with ``weights_prefix: encoder_backbone.`` the backbone of an AVSBench PVT checkpoint).
    The classifier head is ignored (:mod:`avssl.encoders.pvt`)."""

    weights_source: Literal["encoder", "classifier", "run", "timm", "pvt_original"] = "encoder"
