"""`avssl export`: a trained ResNet encoder loads strictly into torchvision's / timm's ResNet and gives our
features (≤ 1e-5) on the same input — stride 32, the dilated stride-16 variants (once the target is dilated
the way the printed note says), the 1-channel audio ResNet (input repeated on 3 channels, or timm's
``in_chans=1``) — and imports back through our ``weights:`` keys; encoders without an equivalent are one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import load_file
from torch import nn

from avssl.cli import main as cli
from avssl.encoders import AudioCNNConfig, Visual2dConfig, build_encoder
from avssl.encoders.visual import dilate_last_stage
from avssl.export import export_part

timm = pytest.importorskip("timm")
TOL = 1e-5


@pytest.fixture(scope="module")
def r18_run(tmp_path_factory, make_run) -> tuple[Path, nn.Module]:
    """visual resnet18 at stride 32, audio_resnet18 (1 channel) at stride 16."""
    run = tmp_path_factory.mktemp("r18") / "run"
    overrides = [
        "model.visual.name=resnet18",
        "model.audio.name=audio_resnet18",
        "model.audio.output_stride=16",
    ]
    return run, make_run(run, "av_contrastive", overrides, seed=3)


@pytest.fixture(scope="module")
def r50_run(tmp_path_factory, make_run) -> tuple[Path, nn.Module]:
    """visual resnet50 dilated to stride 16."""
    run = tmp_path_factory.mktemp("r50") / "run"
    overrides = [
        "model.visual.name=resnet50",
        "model.visual.output_stride=16",
        "model.audio.name=audio_small",
    ]
    return run, make_run(run, "av_contrastive", overrides, seed=4)


def _randomise_bn(model: nn.Module) -> None:
    """Non-trivial BatchNorm statistics, as a trained model has (the initial ones are 0 / 1)."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)


def _torchvision_features(model: torchvision.models.ResNet, x: torch.Tensor) -> torch.Tensor:
    """The backbone before global pooling: what our encoders return."""
    return nn.Sequential(*list(model.children())[:-2]).eval()(x)


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    assert (a - b).abs().max().item() <= TOL * max(1.0, b.abs().max().item())


def test_visual_resnet18_as_torchvision_and_timm(r18_run, tmp_path: Path) -> None:
    run, task = r18_run
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = task.visual_encoder(x)
    export_part(str(run), "visual", "torchvision", tmp_path / "r18.pth")
    state = torch.load(tmp_path / "r18.pth", weights_only=True)
    model = torchvision.models.resnet18()
    model.load_state_dict(state)  # strict
    assert not model.fc.weight.any() and not model.fc.bias.any()  # no classifier was trained: zeros
    with torch.no_grad():
        _close(_torchvision_features(model, x), ours)
    export_part(str(run), "visual", "timm", tmp_path / "r18.safetensors")
    t = timm.create_model(
        "resnet18", pretrained=True, pretrained_cfg_overlay={"file": str(tmp_path / "r18.safetensors")}
    )
    with torch.no_grad():
        _close(t.eval().forward_features(x), ours)


def test_dilated_audio_resnet18_with_one_channel(r18_run, tmp_path: Path) -> None:
    run, task = r18_run
    spec = torch.randn(2, 1, 64, 96, generator=torch.Generator().manual_seed(2))  # a log-mel "image"
    with torch.no_grad():
        ours = task.audio_encoder.backbone(spec)
    notes = export_part(str(run), "audio", "torchvision", tmp_path / "a.pth")
    assert any("dilate_last_stage" in n for n in notes) and any("repeated on 3 channels" in n for n in notes)
    model = torchvision.models.resnet18()
    model.load_state_dict(torch.load(tmp_path / "a.pth", weights_only=True))
    with torch.no_grad():
        plain = _torchvision_features(model, spec.repeat(1, 3, 1, 1))
        assert plain.shape[-2:] != ours.shape[-2:]  # not dilated: stride 32, not our features
        dilate_last_stage(model.layer4)  # what the note says
        _close(_torchvision_features(model, spec.repeat(1, 3, 1, 1)), ours)
    export_part(str(run), "audio", "timm", tmp_path / "a.safetensors")
    overlay = {"file": str(tmp_path / "a.safetensors")}
    t = timm.create_model(
        "resnet18", pretrained=True, in_chans=1, output_stride=16, pretrained_cfg_overlay=overlay
    )
    with torch.no_grad():
        _close(t.eval().forward_features(spec), ours)


def test_dilated_resnet50_as_torchvision(r50_run, tmp_path: Path) -> None:
    run, task = r50_run
    _randomise_bn(task.visual_encoder)
    from avssl.train.checkpoint import export_model

    export_model(task, run)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = task.visual_encoder(x)
    export_part(str(run), "visual", "torchvision", tmp_path / "r50.pth")
    model = torchvision.models.resnet50(replace_stride_with_dilation=[False, False, True])
    model.load_state_dict(torch.load(tmp_path / "r50.pth", weights_only=True))
    with torch.no_grad():
        _close(_torchvision_features(model, x), ours)


def test_exports_import_back_through_our_weights_keys(r18_run, tmp_path: Path) -> None:
    run, task = r18_run
    export_part(str(run), "visual", "torchvision", tmp_path / "v.pth")
    visual = build_encoder(
        Visual2dConfig(name="resnet18", weights=str(tmp_path / "v.pth"), weights_source="classifier")
    )
    for key, value in task.visual_encoder.state_dict().items():
        assert torch.equal(visual.state_dict()[key], value), key
    export_part(str(run), "audio", "timm", tmp_path / "a.safetensors")
    cfg = AudioCNNConfig(name="audio_resnet18", output_stride=16, weights=str(tmp_path / "a.safetensors"))
    cfg.weights_source = "classifier"  # conv1's 3 channels summed back to 1
    audio = build_encoder(cfg)
    for key, value in task.audio_encoder.state_dict().items():
        torch.testing.assert_close(audio.state_dict()[key], value, rtol=0, atol=1e-7)
    export_part(str(run), "audio", "safetensors", tmp_path / "own.safetensors")
    assert load_file(str(tmp_path / "own.safetensors")).keys() == task.audio_encoder.state_dict().keys()
    cfg = AudioCNNConfig(name="audio_resnet18", output_stride=16, weights=str(tmp_path / "own.safetensors"))
    own = build_encoder(cfg)
    for key, value in task.audio_encoder.state_dict().items():
        assert torch.equal(own.state_dict()[key], value), key


def test_cli_export_and_encoders_without_an_equivalent(r18_run, make_run, tmp_path: Path, capsys) -> None:
    run, _ = r18_run
    out = tmp_path / "r18.pth"
    assert (
        cli(["export", "--run", str(run), "--part", "visual", "--format", "torchvision", "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.startswith(f"{out}: the visual encoder") and "note: fc.weight/fc.bias are zeros" in printed
    torchvision.models.resnet18().load_state_dict(torch.load(out, weights_only=True))
    small = tmp_path / "small"
    make_run(
        small,
        "av_contrastive",
        ["model.visual.name=small", "model.audio.name=audio_small", "model.embed_dim=16"],
    )
    code = cli(
        ["export", "--run", str(small), "--part", "visual", "--format", "torchvision", "--out", str(out)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert (
        "'small' (SmallVisualEncoder) has no torchvision equivalent" in err[0]
        and "--format safetensors" in err[0]
    )
    code = cli(
        ["export", "--run", str(small), "--part", "visual", "--format", "safetensors", "--out", str(out)]
    )
    assert code == 0
