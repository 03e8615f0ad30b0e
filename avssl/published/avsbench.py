"""The released AVSBench segmentation models (TPAVI; ResNet-50 or PVT-v2-b5 backbone; S4 and MS3) as avssl runs.

Zhou, Wang, Zhang, Sun, Zhang, Birchfield, Guo, Kong, Wang, Zhong, "Audio-Visual Segmentation", ECCV 2022
(github OpenNLPLab/AVSBench, ``avs_scripts/avs_s4`` and ``avs_scripts/avs_ms3``). Facts from the authors'
repository (module structure, parameter names, test code); the code is ours.

The released file is the ``state_dict()`` of the authors' ``Pred_endecoder`` (``ResNet_AVSModel.py`` or
``PVT_AVSModel.py``; the PVT one has stage widths 64/128/320/512 and no classifier head) (saved from the module inside
``nn.DataParallel``; a ``module.`` prefix, if any, is stripped by the reader). Its parts and their avssl names:

==============================================  ==================================================
released                                        avssl (task ``avs``)
==============================================  ==================================================
``resnet.{conv1,bn1,layer1,layer2}.*``          ``visual_encoder.*`` (torchvision names)
``resnet.layer3_1.*``, ``resnet.layer4_1.*``    ``visual_encoder.layer3.*``, ``visual_encoder.layer4.*``
``resnet.layer3_2.*``, ``resnet.layer4_2.*``    not used: the backbone's second branch, never run
``encoder_backbone.*`` (PVT models)             ``visual_encoder.net.*`` (pvt_v2_b5; the original PVT-v2
                                                layout ``patch_embed{i}`` / ``block{i}.{j}`` / ``norm{i}``,
                                                :func:`avssl.encoders.pvt.pvt_original_key`)
``conv{i}.conv2d_list.{k}.*``  (i = 1..4)       ``head.reduce.{i-1}.branches.{k}.*`` (dilations 3, 6, 12, 18)
``tpavi_b{i}.align_channel.*``                  ``head.tpavi.{i-1}.align_audio.*``
``tpavi_b{i}.{theta,phi,g}.*``                  ``head.tpavi.{i-1}.{theta,phi,g}.*``
``tpavi_b{i}.W_z.{0,1}.*`` (conv, BatchNorm3d)  ``head.tpavi.{i-1}.w_z.{0,1}.*``
``tpavi_b{i}.norm_layer.*`` (LayerNorm)         ``head.tpavi.{i-1}.norm.*``
``path{i}.resConfUnit1.*`` (i = 1..3)           ``head.fuse.{i-1}.lateral.*``
``path4.resConfUnit1.*``                        not used: the top fusion block has no lateral input
``path{i}.resConfUnit2.*``                      ``head.fuse.{i-1}.out.*``
``output_conv.{0,2,4}.*``                       ``head.output.{0,1,2}.*``
==============================================  ==================================================

The audio extractor is not in the released file: the authors run torchvggish's AudioSet VGGish
(``vggish-10086976.pth``: ``features.*``, ``embeddings.*``), frozen, without the PCA post-processing;
:func:`map_vggish` maps that file to ``audio_encoder.*`` (the import requires it as a second file,
``--vggish``).

Reference test input (``test.py``, ``dataloader.py``, ``preprocess_scripts``): 5 frames per video, one per
second (the frame 15/16 s into each second, resized by OpenCV to 224×224 regardless of aspect ratio and
stored as PNG), ImageNet normalisation; 5 s of 16 kHz mono audio → 5 VGGish log-mel examples of 0.96 s, one
per frame; the mask is sigmoid(logits) at 224×224, thresholded at 0.5 for the IoU; the test script scores
batches of 4 videos (the released F depends on the batch: ``eval.f_mode = avsbench``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

from avssl.published.base import CheckpointError, Companion, MappedState, PublishedModel

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
PAPER = 'Zhou, Wang, Zhang, Sun, Zhang, Birchfield, Guo, Kong, Wang, Zhong, "Audio-Visual Segmentation", ECCV 2022'
SOURCE = (
    "github.com/OpenNLPLab/AVSBench (README: the trained S4 / MS3 models with the ResNet-50 and PVT-v2 "
    "backbones; test with avs_scripts/avs_s4|avs_ms3/test.sh)"
)
VGGISH_SOURCE = (
    "github.com/harritaylor/torchvggish releases: vggish-10086976.pth (AudioSet VGGish, torchvggish format)"
)

# (released prefix, avssl prefix or None = not used); the first matching rule wins
Rules = tuple[tuple[str, str | None], ...]

RESNET50_RULES: Rules = (
    ("resnet.layer3_2.", None),
    ("resnet.layer4_2.", None),
    ("resnet.layer3_1.", "visual_encoder.layer3."),
    ("resnet.layer4_1.", "visual_encoder.layer4."),
    *((f"resnet.{part}.", f"visual_encoder.{part}.") for part in ("conv1", "bn1", "layer1", "layer2")),
)


def decoder_rules(tpavi_stages: tuple[int, ...] = (0, 1, 2, 3)) -> Rules:
    """The backbone-independent part (channel reduction, TPAVI, fusion, output): shared by the ResNet-50 and
    PVT-v2 releases, whose ``Pred_endecoder`` differ only in the backbone and the stage widths."""
    rules: list[tuple[str, str | None]] = [("path4.resConfUnit1.", None)]
    for i in range(4):
        rules.append((f"conv{i + 1}.conv2d_list.", f"head.reduce.{i}.branches."))
        rules.append((f"path{i + 1}.resConfUnit1.", f"head.fuse.{i}.lateral."))
        rules.append((f"path{i + 1}.resConfUnit2.", f"head.fuse.{i}.out."))
    for s in tpavi_stages:
        released, ours = f"tpavi_b{s + 1}.", f"head.tpavi.{s}."
        rules += [
            (released + "align_channel.", ours + "align_audio."),
            (released + "W_z.", ours + "w_z."),
            (released + "norm_layer.", ours + "norm."),
            *((released + f"{part}.", ours + f"{part}.") for part in ("theta", "phi", "g")),
        ]
    rules += [(f"output_conv.{r}.", f"head.output.{a}.") for r, a in ((0, 0), (2, 1), (4, 2))]
    return tuple(rules)


VGGISH_RULES: Rules = (
    ("pproc.", None),
    ("features.", "audio_encoder.features."),
    ("embeddings.", "audio_encoder.embeddings."),
)


class KeyMap:
    """Released key → avssl name by prefix ``rules`` (the first matching rule wins; a None target = a
    released parameter deliberately not used), and back, for messages naming a key a file lacks."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def rename(self, key: str) -> tuple[bool, str | None]:
        """(known, avssl name or None when deliberately unused)."""
        for prefix, target in self.rules:
            if key.startswith(prefix):
                return True, None if target is None else target + key[len(prefix) :]
        return False, None

    def released_name(self, name: str) -> str:
        for prefix, target in self.rules:
            if target is not None and name.startswith(target):
                return prefix + name[len(target) :]
        return name


class PVTKeyMap(KeyMap):
    """The AVSBench PVT models: ``encoder_backbone.*`` in the original PVT-v2 layout → the pvt_v2_b5
    encoder's names (:func:`~avssl.encoders.pvt.pvt_original_key`), the rest by ``rules``."""

    PREFIX, TARGET = "encoder_backbone.", "visual_encoder."

    def rename(self, key: str) -> tuple[bool, str | None]:
        from avssl.encoders.pvt import pvt_original_key
        from avssl.encoders.weights import WeightsError

        if not key.startswith(self.PREFIX):
            return super().rename(key)
        try:
            name = pvt_original_key(key[len(self.PREFIX) :], "pvt_v2_b5")
        except WeightsError:
            return False, None
        return True, None if name is None else self.TARGET + name

    def released_name(self, name: str) -> str:
        from avssl.encoders.pvt import avssl_to_pvt_original_key

        if name.startswith(self.TARGET):
            return self.PREFIX + avssl_to_pvt_original_key(name[len(self.TARGET) :])
        return super().released_name(name)


def map_released(
    released: dict[str, Tensor],
    keys: KeyMap,
    expected: dict[str, tuple[torch.Size, torch.dtype]],
    what: str,
) -> MappedState:
    """Rename ``released`` by ``keys`` and check it against ``expected`` (avssl name → shape, dtype): the
    first released key the map does not know, the first expected key missing (by its released name) or the
    first shape that differs is a CheckpointError naming it."""
    state: dict[str, Tensor] = {}
    origin: dict[str, str] = {}
    ignored: list[str] = []
    groups: dict[tuple[str, str], int] = {}
    for key, value in released.items():
        known, target = keys.rename(key)
        if not known or (target is not None and target not in expected):
            raise CheckpointError(f"unexpected key {key!r}: not part of a {what} checkpoint")
        if target is None:
            ignored.append(key)
            continue
        state[target], origin[target] = value, key
        group = (key.rsplit(".", 1)[0].split(".", 1)[0], ".".join(target.split(".")[:2]))
        groups[group] = groups.get(group, 0) + 1
    for key, (shape, dtype) in expected.items():
        if key not in state:
            raise CheckpointError(f"missing key {keys.released_name(key)!r} of a {what} checkpoint")
        if state[key].shape != shape:
            raise CheckpointError(
                f"key {origin[key]!r} has shape {tuple(state[key].shape)}, the {what} architecture's is {tuple(shape)}"
            )
        state[key] = state[key].to(dtype)
    mapped = [f"{src}.* → {dst}.* ({n} tensors)" for (src, dst), n in groups.items()]
    return MappedState(state, mapped, ignored)


# ----------------------------------------------------------------------------------------- run configs


def reference_data(layout: str) -> dict:
    """The authors' test input: 5 frames at 224×224 (squashed, no crop), ImageNet normalisation, 5 s of
    16 kHz mono audio; frames 15/16 s into each second as the released frame extraction picks them."""
    transforms = [{"name": "resize", "size": [224, 224]}, {"name": "normalize", **IMAGENET}]
    return {
        "layout": layout,
        "duration_s": 5.0,
        "fps": 1.0,
        "video_offset_s": 15 / 16,
        "size": 224,
        "sample_rate": 16000,
        "channels": 1,
        "transforms": transforms,
        "eval_transforms": transforms,
    }


BACKBONES = {"r50": {"name": "resnet50", "output_stride": 32}, "pvt": {"name": "pvt_v2_b5"}}


def avsbench_config(setting: str, backbone: str = "r50") -> dict:
    """The released TPAVI model for ``setting`` "s4" or "ms3" with ``backbone`` "r50" (ResNet-50) or "pvt"
    (PVT-v2-b5; needs timm), the training loss settings of its train.sh (S4 first-frame BCE only; MS3 all
    frames + 0.5 · L_AVM) and its reference preprocessing."""
    model = {
        "visual": dict(BACKBONES[backbone]),
        "audio": {"name": "vggish", "postprocess": False},
        "channels": 256,
        "tpavi_stages": [0, 1, 2, 3],
        "supervise": "first" if setting == "s4" else "all",
        "avm_weight": 0.0 if setting == "s4" else 0.5,
        "zero_audio": False,
        "freeze_audio": True,
        "audio_relu": True,
    }
    return {
        "task": "avs",
        "model": model,
        "data": reference_data(f"avsbench-{setting}"),
        "eval": {"f_mode": "avsbench", "batch_size": 4},
    }


# ----------------------------------------------------------------------------------------- key maps


@functools.cache
def _expected(setting: str, backbone: str) -> dict[str, tuple[torch.Size, torch.dtype]]:
    """Names, shapes and dtypes of the task the setting's run config builds (on the meta device: no
    memory, no initialisation; only names, shapes and dtypes are read)."""
    from avssl.config import from_saved_dict
    from avssl.tasks import TASKS

    config = avsbench_config(setting, backbone)
    config_cls, builder = TASKS[config["task"]]
    with torch.device("meta"):
        task = builder(from_saved_dict(config_cls, config["model"]))
    return {k: (v.shape, v.dtype) for k, v in task.state_dict().items()}


def map_avsbench(released: dict[str, Tensor], setting: str, backbone: str = "r50") -> MappedState:
    """A released ``Pred_endecoder`` state dict → the avs task's visual encoder and head (the audio encoder
    comes from torchvggish's file, :func:`map_vggish`)."""
    expected = {k: v for k, v in _expected(setting, backbone).items() if not k.startswith("audio_encoder.")}
    keys = KeyMap(RESNET50_RULES + decoder_rules()) if backbone == "r50" else PVTKeyMap(decoder_rules())
    return map_released(released, keys, expected, f"avsbench-{setting}-{backbone}")


def map_vggish(released: dict[str, Tensor]) -> MappedState:
    """torchvggish's ``vggish-*.pth`` (``features.*``, ``embeddings.*``; a ``pproc.*`` PCA is not used, as
    released) → the avs task's frozen ``audio_encoder.*``."""
    expected = {k: v for k, v in _expected("s4", "r50").items() if k.startswith("audio_encoder.")}
    return map_released(released, KeyMap(VGGISH_RULES), expected, "torchvggish VGGish")


VGGISH = Companion(
    help="torchvggish's AudioSet VGGish file (vggish-10086976.pth), the frozen audio extractor the AVSBench "
    "models run (their checkpoints do not hold it)",
    map_state=map_vggish,
    configure=lambda config: None,
    required=True,
)


def _kind(setting: str, backbone: str) -> PublishedModel:
    mapper: Callable[[dict[str, Tensor]], MappedState] = functools.partial(
        map_avsbench, setting=setting, backbone=backbone
    )
    return PublishedModel(
        kind=f"avsbench-{setting}-{backbone}",
        paper=PAPER,
        source=f"{SOURCE}; {VGGISH_SOURCE}",
        run_config=functools.partial(avsbench_config, setting, backbone),
        map_state=mapper,
        companions={"vggish": VGGISH},
    )


AVSBENCH: dict[str, PublishedModel] = {
    f"avsbench-{setting}-{backbone}": _kind(setting, backbone)
    for setting in ("s4", "ms3")
    for backbone in ("r50", "pvt")
}
