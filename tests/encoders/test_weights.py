"""Weight loading: torch/safetensors files, classifier checkpoints, run directories, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch
import torchvision
from pytorchvideo.models.x3d import create_x3d

from avssl.encoders import (
    AudioCNNConfig,
    MotionConfig,
    VGGishConfig,
    Video3dConfig,
    Visual2dConfig,
    WeightsError,
    build_encoder,
    load_encoder_weights,
    read_state_dict,
)
from avssl.encoders.weights import RUN_WEIGHTS, adapt_first_conv


def _randomised(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's state dict with every float tensor redrawn, so a successful load is visible."""
    generator = torch.Generator().manual_seed(1)
    return {
        k: torch.randn(v.shape, generator=generator) if v.is_floating_point() else v.clone()
        for k, v in module.state_dict().items()
    }


def _assert_loaded(module: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    state = module.state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("fmt", ["torch", "safetensors"])
def test_encoder_file_with_module_prefix_and_nesting(tmp_path: Path, fmt: str) -> None:
    target = _randomised(build_encoder(Visual2dConfig(name="resnet18")))
    wrapped = {f"module.{k}": v for k, v in target.items()}
    if fmt == "torch":
        path = tmp_path / "ckpt.pt"
        torch.save({"epoch": 3, "state_dict": wrapped}, path)
    else:
        path = tmp_path / "ckpt.safetensors"
        safetensors.torch.save_file(wrapped, str(path))
    _assert_loaded(build_encoder(Visual2dConfig(name="resnet18", weights=str(path))), target)


def test_model_key_nesting_and_compile_prefix(tmp_path: Path) -> None:
    target = _randomised(build_encoder(Video3dConfig(name="x3d_s")))
    path = tmp_path / "ckpt.pth"
    torch.save({"model": {f"module._orig_mod.{k}": v for k, v in target.items()}}, path)
    assert set(read_state_dict(path)) == set(target)


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])  # torchvision's resnet18-f37072fd / resnet50-*.pth
def test_torchvision_resnet_checkpoint_maps_onto_the_truncated_encoder(tmp_path: Path, arch: str) -> None:
    reference = getattr(torchvision.models, arch)(weights=None)
    torch.nn.init.normal_(reference.conv1.weight)  # differs from any fresh initialisation
    path = tmp_path / f"{arch}.pth"
    torch.save(reference.state_dict(), path)
    cfg = Visual2dConfig(name=arch, weights=str(path), weights_source="classifier")
    expected = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    _assert_loaded(build_encoder(cfg), expected)


def test_classifier_checkpoint_into_audio_encoder_adapts_the_first_conv(tmp_path: Path) -> None:
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    encoder = build_encoder(
        AudioCNNConfig(name="audio_resnet18", weights=str(path), weights_source="classifier")
    )
    state = encoder.state_dict()
    rgb = reference.conv1.weight.detach()
    torch.testing.assert_close(state["backbone.conv1.weight"], rgb.sum(dim=1, keepdim=True))
    torch.testing.assert_close(
        state["backbone.layer4.1.bn2.running_var"], reference.layer4[1].bn2.running_var
    )


def test_adapted_first_conv_keeps_the_response_to_equal_channels() -> None:
    weight = torch.randn(8, 3, 3, 3)
    x = torch.randn(1, 1, 6, 6)
    original = torch.nn.functional.conv2d(x.expand(1, 3, 6, 6), weight)
    for channels in (1, 2, 5):
        adapted = adapt_first_conv(weight, channels)
        assert adapted.shape == (8, channels, 3, 3)
        torch.testing.assert_close(torch.nn.functional.conv2d(x.expand(1, channels, 6, 6), adapted), original)


def test_video_classifier_checkpoints(tmp_path: Path) -> None:
    r3d = torchvision.models.video.r3d_18(weights=None)
    torch.save(r3d.state_dict(), tmp_path / "r3d.pth")
    cfg = MotionConfig(
        name="motion_diff_r3d_18", weights=str(tmp_path / "r3d.pth"), weights_source="classifier"
    )
    state = build_encoder(cfg).state_dict()
    torch.testing.assert_close(state["backbone.stem.0.weight"], r3d.stem[0].weight.detach())

    x3d = create_x3d(input_clip_length=13, input_crop_size=160, depth_factor=2.2)
    safetensors.torch.save_file(x3d.state_dict(), str(tmp_path / "x3d.safetensors"))
    cfg = Video3dConfig(name="x3d_s", weights=str(tmp_path / "x3d.safetensors"), weights_source="classifier")
    expected = {k: v for k, v in x3d.state_dict().items() if not k.startswith("blocks.5.")}
    _assert_loaded(build_encoder(cfg), expected)


def _write_run_dir(root: Path, visual: dict[str, torch.Tensor]) -> Path:
    task_state = {f"visual_encoder.{k}": v for k, v in visual.items()}
    task_state["audio_encoder.conv1.weight"] = torch.zeros(64, 1, 7, 7)
    task_state["head.proj.weight"] = torch.zeros(4, 4)
    (root / RUN_WEIGHTS).parent.mkdir(parents=True)
    safetensors.torch.save_file({k: v.contiguous() for k, v in task_state.items()}, str(root / RUN_WEIGHTS))
    return root


def test_run_directory_with_prefix(tmp_path: Path) -> None:
    target = _randomised(build_encoder(Visual2dConfig(name="resnet18")))
    run = _write_run_dir(tmp_path / "run", target)
    cfg = Visual2dConfig(
        name="resnet18", weights=str(run), weights_source="run", weights_prefix="visual_encoder"
    )
    _assert_loaded(build_encoder(cfg), target)
    with pytest.raises(WeightsError, match=r"no keys under prefix 'video_encoder\.'.*visual_encoder\."):
        build_encoder(
            Visual2dConfig(
                name="resnet18", weights=str(run), weights_source="run", weights_prefix="video_encoder."
            )
        )
    with pytest.raises(WeightsError, match="not an avssl run directory"):
        build_encoder(Visual2dConfig(name="resnet18", weights=str(tmp_path), weights_source="run"))


def test_missing_key_is_a_clear_error_and_leaves_the_encoder_untouched(tmp_path: Path) -> None:
    encoder = build_encoder(Visual2dConfig(name="resnet18"))
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    partial = _randomised(encoder)
    del partial["layer3.0.conv1.weight"]
    partial["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pt"
    torch.save(partial, path)
    with pytest.raises(
        WeightsError, match=r"partial\.pt.*1 missing key\(s\): layer3\.0\.conv1\.weight.*extra\.weight"
    ):
        load_encoder_weights(encoder, path)
    _assert_loaded(encoder, before)

    report = load_encoder_weights(encoder, path, strict=False)
    assert report.missing == ["layer3.0.conv1.weight"] and report.unexpected == ["extra.weight"]
    torch.testing.assert_close(
        encoder.state_dict()["layer4.0.conv1.weight"], partial["layer4.0.conv1.weight"]
    )
    with pytest.warns(UserWarning, match="missing"):
        build_encoder(Visual2dConfig(name="resnet18", weights=str(path), strict=False))


def test_wrong_shapes_and_wrong_files_name_the_file(tmp_path: Path) -> None:
    torch.save(build_encoder(Visual2dConfig(name="resnet50")).state_dict(), tmp_path / "r50.pt")
    with pytest.raises(WeightsError, match=r"r50\.pt.*wrongly shaped: conv1\.weight|r50\.pt.*unexpected"):
        build_encoder(Visual2dConfig(name="resnet18", weights=str(tmp_path / "r50.pt")))
    garbage = tmp_path / "notes.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsError, match=r"cannot read weights file .*notes\.pt"):
        build_encoder(Visual2dConfig(name="resnet18", weights=str(garbage)))
    bad_safetensors = tmp_path / "broken.safetensors"
    bad_safetensors.write_bytes(b"\x00" * 16)
    with pytest.raises(WeightsError, match=r"broken\.safetensors"):
        read_state_dict(bad_safetensors)
    with pytest.raises(WeightsError, match=r"not found: .*absent\.pt"):
        build_encoder(Visual2dConfig(name="resnet18", weights=str(tmp_path / "absent.pt")))
    torch.save({"epoch": 3}, tmp_path / "meta.pt")
    with pytest.raises(WeightsError, match=r"meta\.pt holds no tensors"):
        read_state_dict(tmp_path / "meta.pt")


def test_old_checkpoints_without_num_batches_tracked_load(tmp_path: Path) -> None:
    reference = torchvision.models.resnet18(weights=None).state_dict()
    old = {k: v for k, v in reference.items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old.pth")
    build_encoder(
        Visual2dConfig(name="resnet18", weights=str(tmp_path / "old.pth"), weights_source="classifier")
    )


def test_classifier_source_needs_a_classifier_layout(tmp_path: Path) -> None:
    vggish = build_encoder(VGGishConfig(name="vggish"))
    convs = _randomised(vggish.features)  # the conv tower only: keeps the file small
    torch.save({f"features.{k}": v for k, v in convs.items()}, tmp_path / "vggish.pt")
    with pytest.raises(WeightsError, match="source 'encoder'"):
        load_encoder_weights(vggish, tmp_path / "vggish.pt", source="classifier")
    report = load_encoder_weights(vggish, tmp_path / "vggish.pt", strict=False)
    assert report.missing == [f"embeddings.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    _assert_loaded(vggish.features, convs)
