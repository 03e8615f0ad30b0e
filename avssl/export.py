"""Export a trained run's visual or audio encoder for other toolkits (`avssl export`).

Formats (``FORMATS``):

- ``torchvision``: the state dict of ``torchvision.models.resnet18()`` / ``resnet50()``, so
  ``resnet18().load_state_dict(torch.load(FILE))`` works strictly. The ResNet encoders here are torchvision's
  networks truncated before pooling, so every backbone key is theirs unchanged; what torchvision has and we do
  not is filled in and said (:func:`torchvision_state`):
  ``fc.weight`` / ``fc.bias`` are zeros (no classifier was trained: logits are 0 until ``fc`` is replaced or
  trained — users take the backbone), and a 1-channel first conv (the audio ResNets on log-mel) is written
  for 3 channels as w/3 each, so a spectrogram repeated on 3 channels gives exactly this encoder's features
  (and our ``weights_source: classifier`` sums it back). An output-stride-16 encoder (last stage dilated)
  has the same weights; plain ``resnet18()`` runs them at stride 32, and the printed note says how to
  dilate it to get our features.
- ``timm``: timm's ResNets use torchvision's key names, so the same tensors, checked against
  ``timm.create_model(arch)``'s state dict; timm loads them with
  ``create_model(arch, pretrained=True, pretrained_cfg_overlay=dict(file=FILE))`` and adds ``in_chans=1``
  (it sums the 3-channel conv back) and ``output_stride=16`` (the same dilation as ours) as needed.
- ``safetensors``: the encoder's own state dict (any encoder), loaded back with ``weights: FILE``
  (``weights_source: encoder``).

Encoders without a torchvision/timm equivalent (``small``, VGGish, PVT, 3D CNNs, the 5-channel binaural
ResNet) are refused for those formats with one line. The file is safetensors when ``--out`` ends in
``.safetensors``, else a torch file (``torch.save`` of a plain dict of tensors).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision.models as tvm
from torch import Tensor, nn

from avssl.encoders.visual import STAGE_DIMS, ResNet2dEncoder
from avssl.encoders.weights import compare_state

FORMATS = ("torchvision", "timm", "safetensors")
# part → where tasks keep that encoder (the first attribute path the task has)
PART_MODULES: dict[str, tuple[str, ...]] = {
    "visual": ("visual_encoder", "encoders.visual", "backbone"),
    "audio": ("audio_encoder", "encoders.audio"),
}
TORCHVISION_BUILDERS = {"resnet18": tvm.resnet18, "resnet50": tvm.resnet50}
N_CLASSES = 1000  # the ImageNet head torchvision's and timm's default ResNets have


class ExportError(ValueError):
    """The part cannot be exported in the asked format; the message says why and what to use instead."""


def part_encoder(task: nn.Module, part: str, origin: str) -> nn.Module:
    """The `part` (visual | audio) encoder of a task (ExportError naming `origin` when it has none)."""
    if part not in PART_MODULES:
        raise ExportError(f"unknown part {part!r}: choose from {', '.join(PART_MODULES)}")
    for path in PART_MODULES[part]:
        try:
            return task.get_submodule(path)
        except AttributeError:
            continue
    raise ExportError(f"{origin}: the {type(task).__name__} task has no {part} encoder")


def resnet_of(encoder: nn.Module) -> ResNet2dEncoder | None:
    """The torchvision ResNet inside an encoder (itself, or the ``backbone`` of an audio ResNet), else None."""
    if isinstance(encoder, ResNet2dEncoder):
        return encoder
    backbone = getattr(encoder, "backbone", None)
    return backbone if isinstance(backbone, ResNet2dEncoder) else None


def arch_of(resnet: ResNet2dEncoder) -> str:
    """'resnet18' | 'resnet50' from the stage widths (the same architecture names in torchvision and timm)."""
    return next(arch for arch, dims in STAGE_DIMS.items() if dims == resnet.feature_dims)


def torchvision_state(resnet: ResNet2dEncoder) -> tuple[dict[str, Tensor], list[str]]:
    """(the state dict of torchvision's resnet of the same depth, the notes on what was filled in)."""
    arch = arch_of(resnet)
    state = {k: v.detach().cpu().clone() for k, v in resnet.state_dict().items()}
    notes = [f"fc.weight/fc.bias are zeros: no classifier was trained here (replace {arch}.fc, or use the "]
    notes[0] += "backbone before avgpool: our features)"
    state["fc.weight"] = torch.zeros(N_CLASSES, resnet.out_dim)
    state["fc.bias"] = torch.zeros(N_CLASSES)
    if resnet.in_channels == 1:
        state["conv1.weight"] = (state["conv1.weight"] / 3.0).repeat(1, 3, 1, 1).contiguous()
        notes.append(
            "conv1 takes 1 channel here: written for 3 as w/3 each, so a 1-channel input repeated on 3 "
            "channels gives this encoder's features (timm: create_model(..., in_chans=1) sums it back)"
        )
    if resnet.output_stride == 16:
        notes.append(
            "output stride 16 (last stage dilated): these weights run at stride 32 in a plain "
            f"{arch}(); for our features dilate layer4 — torchvision: "
            + (
                "avssl.encoders.visual.dilate_last_stage(model.layer4)"
                if arch == "resnet18"
                else "resnet50(replace_stride_with_dilation=[False, False, True])"
            )
            + "; timm: create_model(..., output_stride=16)"
        )
    return state, notes


def target_model(fmt: str, arch: str) -> nn.Module:
    """The model a `fmt` file is meant for, randomly initialised (its state dict is the layout to match)."""
    if fmt == "torchvision":
        return TORCHVISION_BUILDERS[arch](weights=None)
    try:
        import timm
    except ImportError:
        raise ExportError("--format timm needs the optional package timm: pip install timm") from None
    return timm.create_model(arch, pretrained=False)


def backbone_state(encoder: nn.Module, fmt: str, what: str) -> tuple[dict[str, Tensor], list[str]]:
    """`encoder` as a state dict in `fmt` (see the module docstring) and the notes to tell the user."""
    if fmt == "safetensors":
        return {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()}, []
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose from {', '.join(FORMATS)}")
    resnet = resnet_of(encoder)
    if resnet is None:
        raise ExportError(
            f"{what} ({type(encoder).__name__}) has no {fmt} equivalent (only the ResNet-18/50 encoders do): "
            "export it with --format safetensors"
        )
    if resnet.in_channels not in (1, 3):
        raise ExportError(
            f"{what} is a ResNet on {resnet.in_channels} input channels; {fmt}'s takes 3: "
            "export it with --format safetensors"
        )
    state, notes = torchvision_state(resnet)
    report = compare_state(target_model(fmt, arch_of(resnet)), state)
    if not report.ok:  # the target library changed its layout: never write a file that does not load
        raise ExportError(f"{what} does not fit {fmt}'s {arch_of(resnet)}: {report.describe()}")
    if resnet is not encoder:
        notes.append(
            f"only the ResNet is exported: the {type(encoder).__name__} front end (waveform → its input) has "
            "no weights; feed the ResNet what it computes (its settings are in the run's config)"
        )
    return state, notes


def save_state(state: dict[str, Tensor], out: str | Path, metadata: dict[str, str]) -> Path:
    """`state` at `out`: safetensors (with `metadata`) when it ends in .safetensors, else ``torch.save``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if out.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=metadata)
    else:
        torch.save(state, tmp)
    tmp.replace(out)
    return out


def export_part(run: str, part: str, fmt: str, out: str | Path) -> list[str]:
    """Write the `part` encoder of the run at `run` (a directory, its model/ folder or hf-hub:ORG/NAME) to
    `out` in `fmt`; returns the notes on what the file holds beyond the encoder's own weights."""
    from avssl.inference.load import load_run

    task, config = load_run(run)
    encoder = part_encoder(task, part, run)
    name = (config.get("model", {}).get(part) or {}).get("name", type(encoder).__name__)
    what = f"{run}: the {part} encoder {name!r}"
    state, notes = backbone_state(encoder, fmt, what)
    metadata = {"format": fmt, "encoder": str(name), "task": str(config.get("task")), "run": str(run)}
    save_state(state, out, metadata)
    return notes
