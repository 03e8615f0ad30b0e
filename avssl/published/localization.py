"""The released sound-localization checkpoints: LVS, EZ-VSL and SSL-TIE as avssl runs.

Facts from the authors' repositories (module structure, parameter names, test code); the code is ours.

- **LVS** — Chen, Xie, Afouras, Nagrani, Vedaldi, Zisserman, "Localizing Visual Sounds the Hard Way", CVPR
  2021 (github hche11/Localizing-Visual-Sounds-the-Hard-Way). ``AVENet``: ``imgnet`` and ``audnet`` are the
  repository's own ResNet-18 (one module holds three stems ``conv1`` RGB, ``conv1_a`` spectrogram,
  ``conv1_flow``, and an unused ``fc``; ``layer4`` is built with stride 1 and *no* dilation: 14×14 maps at
  224 px). Map = cosine between the L2-normalised visual map and the max-pooled, normalised audio feature.
  Released file: ``{"model_state_dict": ...}`` saved from ``nn.DataParallel`` (``module.`` prefixes).
  Test input: PIL bicubic resize of the shorter side to 224, centre crop 224, ImageNet normalisation; the
  wav from its start, tiled to 10 s when shorter, cut at 10 s, clipped to [-1, 1];
  ``scipy.signal.spectrogram(nperseg=512, noverlap=274)``, ``log(S + 1e-7)``, divided by 12. Map: cv2
  bilinear to 224, binarised with the '>' rule.
- **EZ-VSL** — Mo & Morgado, "Localizing Visual Sounds the Easy Way", ECCV 2022 (github stoneMo/EZ-VSL).
  ``imgnet`` = torchvision ResNet-18 without pooling/fc (7×7), ``img_proj`` 1×1 conv 512→512, ``audnet`` =
  torchvision ResNet-18 with a 1-channel ``conv1`` (max-pooled), ``aud_proj`` linear 512→512. Released file:
  ``{"model": ..., "optimizer": ..., "epoch", "best_cIoU", "best_Auc"}``. Test input: PIL bicubic resize to
  224×224 (no crop), ImageNet normalisation; 3 s of audio centred on the file (tiled when shorter), clipped,
  the same spectrogram. Map: bilinear (align_corners) to 224, '>=' rule; with OGL (alpha 0.4) blended with
  the mean |feature| of a separate, frozen ImageNet ResNet-18 (torchvision's file, given as ``ogl-weights``).
- **SSL-TIE** — Liu, Ju, Xie, Zhang, "Exploiting Transformation Invariance and Equivariance for
  Self-supervised Sound Localisation", ACM MM 2022 (github jinxiang-liu/SSL-TIE). LVS's ``AVENet`` plus
  unused ``vision_fc1`` (1×1 conv 1024→512), ``conv3`` (1×1 conv 1→1) and ``norm3`` (BatchNorm of 1 channel).
  Released file: ``{"epoch", "state_dict", "best_miou", "optimizer", "iteration"}``. Test input: as LVS for
  frames; audio tiled/cut to 10 s, ``torchaudio`` MelSpectrogram (n_fft 512, hop 239, 257 HTK mels,
  ``normalized=True``), ``AmplitudeToDB`` (10·log10, floor 1e-10). Map: as LVS.

The authors compute spectrograms at each file's own sample rate; these runs read audio at 16 kHz, so they
are exact for 16 kHz audio (other rates are resampled first).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from avssl.published.base import CheckpointError, Companion, MappedState, PublishedModel

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
RATE = 16000


@dataclass(frozen=True)
class KeyRules:
    """How a released state dict becomes avssl's: ``rules`` (released prefix, avssl prefix or None =
    not used), the first matching rule wins; ``required``: released keys a file of this kind must hold
    even though they are not used (they tell the kind apart from a look-alike)."""

    rules: tuple[tuple[str, str | None], ...]
    required: tuple[str, ...] = ()

    def rename(self, key: str) -> str | None:
        """The avssl name of a released key; None when it is not used; KeyError when no rule knows it."""
        for prefix, target in self.rules:
            if key.startswith(prefix):
                return None if target is None else target + key[len(prefix) :]
        raise KeyError(key)

    def released_name(self, avssl_key: str) -> str:
        """The released name an avssl key comes from (for messages about missing keys)."""
        for prefix, target in self.rules:
            if target is not None and avssl_key.startswith(target):
                return prefix + avssl_key[len(target) :]
        return avssl_key


def _audnet_rules(stem: str, unused: tuple[str, ...]) -> tuple[tuple[str, str | None], ...]:
    """The audio ResNet: its spectrogram stem ``stem`` → avssl's 1-channel conv1, ``unused`` parts dropped."""
    return (
        (f"audnet.{stem}.", "audio_encoder.backbone.conv1."),
        *((f"audnet.{part}.", None) for part in unused),
        ("audnet.", "audio_encoder.backbone."),
    )


LVS_RULES = KeyRules(
    (
        *((f"imgnet.{part}.", None) for part in ("conv1_a", "conv1_flow", "fc")),
        ("imgnet.", "visual_encoder."),
        *_audnet_rules("conv1_a", ("conv1", "conv1_flow", "fc")),
    )
)
SSL_TIE_EXTRAS = ("vision_fc1", "conv3", "norm3")
SSL_TIE_RULES = KeyRules(
    (*LVS_RULES.rules, *((f"{part}.", None) for part in SSL_TIE_EXTRAS)),
    required=("vision_fc1.weight", "vision_fc1.bias", "conv3.weight", "conv3.bias", "norm3.weight"),
)
EZVSL_RULES = KeyRules(
    (
        ("imgnet.", "visual_encoder."),
        ("img_proj.", "head.visual_proj."),
        ("aud_proj.", "head.audio_proj."),
        *_audnet_rules("conv1", ()),
    )
)
OGL_RULES = KeyRules((("fc.", None), ("", "ogl_encoder.")))


# ----------------------------------------------------------------------------------------- run configs


def psd_frontend() -> dict:
    """LVS / EZ-VSL's audio input: scipy's PSD spectrogram, 512-sample segments every 238 (noverlap 274),
    ``log(S + 1e-7) / 12``, waveform clipped to [-1, 1]."""
    return {
        "sample_rate": RATE,
        "spectrogram": "psd",
        "n_fft": 512,
        "win_ms": 32.0,
        "hop_ms": 238 * 1000 / RATE,
        "log_mode": "log",
        "log_offset": 1e-7,
        "mean": 0.0,
        "std": 12.0,
        "clip": True,
    }


def ssl_tie_frontend() -> dict:
    """SSL-TIE's audio input: torchaudio MelSpectrogram(n_fft 512, hop 239, 257 mels, HTK, no filter norm,
    ``normalized=True``) and AmplitudeToDB (10·log10 with a 1e-10 floor)."""
    return {
        "sample_rate": RATE,
        "spectrogram": "mel",
        "n_mels": 257,
        "n_fft": 512,
        "win_ms": 32.0,
        "hop_ms": 239 * 1000 / RATE,
        "mel_scale": "htk",
        "mel_norm": None,
        "normalized": True,
        "log_mode": "db",
        "log_offset": 1e-10,
    }


def _resnets(stride: int, dilate: bool, audio: dict) -> dict:
    visual = {"name": "resnet18", "output_stride": stride, "dilate": dilate}
    return {
        "visual": visual,
        "audio": {"name": "audio_resnet18", "output_stride": stride, "dilate": dilate, "audio": audio},
    }


def _data(duration_s: float, window: str, eval_transforms: list[dict], layout: str = "flickr") -> dict:
    return {
        "layout": layout,
        "duration_s": duration_s,
        "fps": 1.0,
        "video_offset_s": duration_s / 2,
        "size": 224,
        "sample_rate": RATE,
        "channels": 1,
        "eval_transforms": [dict(step) for step in eval_transforms],
        "eval_input": {"audio_window": window, "short_audio": "tile"},
    }


CROP_224 = [
    {"name": "resize", "size": 224, "interpolation": "pil_bicubic"},
    {"name": "center_crop", "size": 224},
    {"name": "normalize", **IMAGENET},
]
SQUARE_224 = [
    {"name": "resize", "size": [224, 224], "interpolation": "pil_bicubic"},
    {"name": "normalize", **IMAGENET},
]


def _stride1_last_stage_config(task: str, frontend: dict) -> dict:
    """LVS's and SSL-TIE's released shape: undilated stride-16 ResNet-18s, no projection, max-pooled audio,
    the middle frame; 10 s of audio from the start and the centre-cropped frame at test time."""
    model = {**_resnets(16, False, frontend), "embed_dim": None, "audio_pool": "max", "frames": "middle"}
    return {
        "task": task,
        "model": model,
        "data": _data(10.0, "start", CROP_224),
        "eval": {"benchmark": "flickr", "rule": "gt"},
    }


def lvs_config() -> dict:
    """LVS's released architecture (undilated stride-16 ResNet-18s, no projection) and test input."""
    return _stride1_last_stage_config("lvs", psd_frontend())


def ssl_tie_config() -> dict:
    """SSL-TIE's released architecture (as LVS) with its mel front end and test input."""
    return _stride1_last_stage_config("ssl_tie", ssl_tie_frontend())


def ezvsl_config() -> dict:
    """EZ-VSL's released architecture (stride-32 ResNet-18s, 512-d projections) and test input; OGL only
    when its ImageNet ResNet-18 is imported too (:func:`with_ogl`)."""
    model = {
        **_resnets(32, True, psd_frontend()),
        "embed_dim": 512,
        "audio_pool": "max",
        "frames": "middle",
        "temperature": 0.03,
        "ogl_alpha": 0.4,
        "ogl_encoder": None,
    }
    return {
        "task": "ezvsl",
        "model": model,
        "data": _data(3.0, "centre", SQUARE_224),
        "eval": {"benchmark": "flickr", "rule": "ge", "ogl_alpha": None},
    }


def with_ogl(config: dict) -> None:
    """EZ-VSL with object-guided localization: a frozen ResNet-18 (the torchvision ImageNet file) and the
    paper's alpha 0.4 by default in evaluation and `avssl localize`."""
    config["model"]["ogl_encoder"] = {"name": "resnet18", "output_stride": 32}
    config["eval"]["ogl_alpha"] = 0.4


# ----------------------------------------------------------------------------------------- key maps


@functools.cache
def _expected(kind: str, ogl: bool = False) -> dict[str, tuple[torch.Size, torch.dtype]]:
    """Names, shapes and dtypes of the task a kind's run config builds."""
    from avssl.config import from_saved_dict
    from avssl.tasks import TASKS

    config = KINDS[kind].run_config()
    if ogl:
        with_ogl(config)
    config_cls, builder = TASKS[config["task"]]
    task = builder(from_saved_dict(config_cls, config["model"]))
    return {k: (v.shape, v.dtype) for k, v in task.state_dict().items()}


def map_with(
    released: dict[str, Tensor],
    rules: KeyRules,
    expected: dict[str, tuple[torch.Size, torch.dtype]],
    what: str,
) -> MappedState:
    """Rename ``released`` by ``rules`` and check it against the ``expected`` avssl names and shapes: the
    first released key no rule knows, the first missing key (by its released name) or the first shape that
    differs is a CheckpointError naming it. BatchNorm counters absent from old files are filled with 0."""
    state, origin, ignored, groups = {}, {}, [], {}
    for key, value in released.items():
        try:
            target = rules.rename(key)
        except KeyError:
            raise CheckpointError(f"unexpected key {key!r}: not part of a {what} checkpoint") from None
        if target is None:
            ignored.append(key)
            continue
        state[target], origin[target] = value, key
        group = (key.split(".", 1)[0], target.rsplit(".", 1)[0].split(".", 1)[0])
        groups[group] = groups.get(group, 0) + 1
    for key in rules.required:
        if key not in released:
            raise CheckpointError(f"missing key {key!r} of a {what} checkpoint")
    for key, (shape, dtype) in expected.items():
        if key not in state:
            if key.endswith("num_batches_tracked"):
                state[key] = torch.zeros((), dtype=dtype)
                continue
            raise CheckpointError(f"missing key {rules.released_name(key)!r} of a {what} checkpoint")
        if state[key].shape != shape:
            raise CheckpointError(
                f"key {origin[key]!r} has shape {tuple(state[key].shape)}, the {what} architecture's is "
                f"{tuple(shape)}"
            )
        state[key] = state[key].to(dtype)
    extra = next((k for k in state if k not in expected), None)
    if extra is not None:
        raise CheckpointError(f"unexpected key {origin[extra]!r}: not part of a {what} checkpoint")
    mapped = [f"{src}.* → {dst}.* ({n} tensors)" for (src, dst), n in groups.items()]
    return MappedState(state, mapped, ignored)


def _mapper(kind: str, rules: KeyRules) -> Callable[[dict[str, Tensor]], MappedState]:
    return lambda released: map_with(released, rules, _expected(kind), kind)


def map_ogl(released: dict[str, Tensor]) -> MappedState:
    """A torchvision ``resnet18().state_dict()`` (ImageNet) → EZ-VSL's frozen OGL encoder."""
    expected = {k: v for k, v in _expected("ezvsl", ogl=True).items() if k.startswith("ogl_encoder.")}
    return map_with(released, OGL_RULES, expected, "torchvision ResNet-18")


SOURCES = {
    "lvs": "github.com/hche11/Localizing-Visual-Sounds-the-Hard-Way (README: the Flickr-SoundNet and "
    "VGG-Sound Source pretrained model links, Google Drive)",
    "ezvsl": "github.com/stoneMo/EZ-VSL (README, Model Zoo: one Google Drive folder with a best.pth per "
    "training set)",
    "ssl-tie": "github.com/jinxiang-liu/SSL-TIE (README, Model weights: Google Drive or Baidu Pan; "
    "flickr10k.pth.tar, flickr144k.pth.tar, vggsound144k.pth.tar)",
}
KINDS: dict[str, PublishedModel] = {
    "lvs": PublishedModel(
        kind="lvs",
        paper='Chen, Xie, Afouras, Nagrani, Vedaldi, Zisserman, "Localizing Visual Sounds the Hard Way", CVPR 2021',
        source=SOURCES["lvs"],
        run_config=lvs_config,
        map_state=_mapper("lvs", LVS_RULES),
    ),
    "ezvsl": PublishedModel(
        kind="ezvsl",
        paper='Mo & Morgado, "Localizing Visual Sounds the Easy Way", ECCV 2022',
        source=SOURCES["ezvsl"],
        run_config=ezvsl_config,
        map_state=_mapper("ezvsl", EZVSL_RULES),
        companions={
            "ogl_weights": Companion(
                help="EZ-VSL: torchvision's ImageNet resnet18 file (resnet18-f37072fd.pth) for object-guided "
                "localization",
                map_state=map_ogl,
                configure=with_ogl,
            )
        },
    ),
    "ssl-tie": PublishedModel(
        kind="ssl-tie",
        paper='Liu, Ju, Xie, Zhang, "Exploiting Transformation Invariance and Equivariance for Self-supervised '
        'Sound Localisation", ACM MM 2022',
        source=SOURCES["ssl-tie"],
        run_config=ssl_tie_config,
        map_state=_mapper("ssl-tie", SSL_TIE_RULES),
    ),
}
