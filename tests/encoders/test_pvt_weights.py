"""PVT-v2 weights in the two published layouts: timm's classifier checkpoints (the ImageNet files timm
publishes) and the original release's (Wang et al., "PVT v2: Improved Baselines with Pyramid Vision
Transformer", CVM 2022, ``classification/pvt_v2.py``; also the AVSBench PVT models' ``encoder_backbone``).

The original-layout files are made here by renaming a seeded timm model's keys with a map written from the
original module structure, and checked against a reimplementation of the original forward pass
(``pvt_reference.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
import torchvision
from torch import Tensor

from avssl.config import ConfigError, from_dict, load_config
from avssl.encoders import PVTConfig, Visual2dConfig, WeightsError, build_encoder, load_encoder_weights
from avssl.encoders.pvt import (
    PVTv2Encoder,
    avssl_to_pvt_original_key,
    pvt_original_key,
    pvt_original_to_avssl,
    timm_to_avssl,
)
from avssl.runner.args import script_main
from avssl.runner.specs import recipe_schema

timm = pytest.importorskip("timm")
sys.path.insert(0, str(Path(__file__).parent))  # tests are imported with importlib (pyproject addopts)
from pvt_reference import Recorder, original_forward, seeded_classifier, to_original_layout  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _image() -> Tensor:
    """Non-square, so swapped H and W would show."""
    return torch.randn(2, 3, 96, 64, generator=torch.Generator().manual_seed(3))


def _assert_maps_equal(ours: list[Tensor], reference: list[Tensor]) -> None:
    assert len(ours) == len(reference) == 4
    for stage, (a, b) in enumerate(zip(ours, reference)):
        assert a.shape == b.shape, stage
        assert (a - b).abs().max().item() <= 1e-5, (stage, (a - b).abs().max().item())


def _stage_maps(encoder: torch.nn.Module, x: Tensor) -> list[Tensor]:
    with torch.no_grad():
        return encoder.eval().forward_features(x)


@pytest.mark.parametrize("fmt", ["torch", "safetensors"])
def test_timm_classifier_checkpoint_loads_and_gives_timms_stage_maps(tmp_path: Path, fmt: str) -> None:
    model = seeded_classifier("pvt_v2_b2")
    path = tmp_path / ("pvt_v2_b2.pth" if fmt == "torch" else "model.safetensors")
    if fmt == "torch":
        torch.save(model.state_dict(), path)
    else:
        safetensors.torch.save_file(model.state_dict(), str(path))
    encoder = build_encoder(PVTConfig(name="pvt_v2_b2", weights=str(path), weights_source="timm"))
    x = _image()
    with torch.no_grad():
        expected = model.forward_intermediates(x, intermediates_only=True)
    _assert_maps_equal(_stage_maps(encoder, x), expected)
    report = load_encoder_weights(PVTv2Encoder("pvt_v2_b2"), path, "timm")
    assert report.ok and sorted(report.ignored) == ["head.bias", "head.weight"]


def test_the_classifier_file_is_refused_as_an_encoder_file(tmp_path: Path) -> None:
    """What users met before: timm's file read as the encoder's own state dict."""
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file(seeded_classifier("pvt_v2_b2").state_dict(), str(path))
    with pytest.raises(WeightsError, match="332 missing key"):
        build_encoder(PVTConfig(name="pvt_v2_b2", weights=str(path)))


@pytest.mark.parametrize("arch", ["pvt_v2_b2", "pvt_v2_b5"])
def test_original_layout_loads_and_matches_a_reimplementation_of_the_release(
    tmp_path: Path, arch: str
) -> None:
    model = seeded_classifier(arch, seed=1)
    original = to_original_layout(model.state_dict())
    path = tmp_path / f"{arch}.pth"
    torch.save(original, path)
    encoder = build_encoder(PVTConfig(name=arch, weights=str(path), weights_source="pvt_original"))
    x = _image()
    recorder = Recorder({k: v.double() for k, v in original.items()})
    with torch.no_grad():  # the reference in float64: what remains is float32 rounding of ours
        reference = [m.float() for m in original_forward(recorder, x.double())]
        timm_maps = model.forward_intermediates(x, intermediates_only=True)
    assert recorder.read == set(original) - {"head.weight", "head.bias"}  # every renamed key has a meaning
    _assert_maps_equal(timm_maps, reference)  # the test's own map agrees with the release's semantics
    _assert_maps_equal(_stage_maps(encoder, x), reference)


def test_conversion_is_pure_and_names_every_encoder_parameter() -> None:
    model = seeded_classifier("pvt_v2_b2")
    original = to_original_layout(model.state_dict())
    converted = pvt_original_to_avssl(original, "pvt_v2_b2")
    encoder_keys = set(PVTv2Encoder("pvt_v2_b2").state_dict())
    assert set(converted.state) == encoder_keys and converted.ignored == ["head.weight", "head.bias"]
    assert converted.state["net.stages_1.downsample.proj.weight"] is original["patch_embed2.proj.weight"]
    assert (
        converted.state["net.stages_2.blocks.5.mlp.dwconv.bias"]
        is original["block3.5.mlp.dwconv.dwconv.bias"]
    )
    assert converted.state["net.stages_3.norm.weight"] is original["norm4.weight"]
    via_timm = timm_to_avssl(model.state_dict(), "pvt_v2_b2")
    assert set(via_timm.state) == encoder_keys
    assert all(torch.equal(via_timm.state[k], converted.state[k]) for k in encoder_keys)


def test_the_avsbench_backbone_loads_with_a_prefix(tmp_path: Path) -> None:
    """An AVSBench PVT checkpoint holds the original layout (without head) under ``encoder_backbone.``."""
    original = to_original_layout(seeded_classifier("pvt_v2_b2").state_dict())
    released = {f"module.encoder_backbone.{k}": v for k, v in original.items() if not k.startswith("head.")}
    released["module.conv4.conv2d_list.0.weight"] = torch.zeros(256, 512, 3, 3)
    path = tmp_path / "S4_pvt.pth"
    torch.save(released, path)
    cfg = PVTConfig(name="pvt_v2_b2", weights=str(path), weights_source="pvt_original")
    cfg.weights_prefix = "encoder_backbone."
    encoder = build_encoder(cfg)
    torch.testing.assert_close(
        encoder.state_dict()["net.stages_2.blocks.0.attn.q.weight"], original["block3.0.attn.q.weight"]
    )


def _save(tmp_path: Path, state: dict[str, Tensor]) -> Path:
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    return path


def test_wrong_files_give_one_clear_error(tmp_path: Path) -> None:
    timm_state = seeded_classifier("pvt_v2_b2").state_dict()
    original = to_original_layout(timm_state)
    resnet = _save(tmp_path, torchvision.models.resnet18(weights=None).state_dict())
    cases = [
        (resnet, "timm", r"weights\.pth: key 'conv1\.weight' is not a PVT-v2 parameter"),
        (
            resnet,
            "pvt_original",
            r"weights\.pth: key 'conv1\.weight' is not a PVT-v2 parameter in the original",
        ),
    ]
    for path, source, message in cases:
        with pytest.raises(WeightsError, match=message):
            load_encoder_weights(PVTv2Encoder("pvt_v2_b2"), path, source)
    encoder = PVTv2Encoder("pvt_v2_b2")
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    layouts = [
        (original, "timm", "key 'patch_embed1.proj.weight'.*use weights_source 'pvt_original'"),
        (timm_state, "pvt_original", "key 'patch_embed.proj.weight'.*use weights_source 'timm'"),
        (
            {**original, "block1.0.attn.qkv.weight": torch.zeros(3)},
            "pvt_original",
            "'block1.0.attn.qkv.weight'",
        ),
        (
            {**original, "block3.6.norm1.weight": torch.zeros(320)},
            "pvt_original",
            "'block3.6.norm1.weight' is past",
        ),
    ]
    for state, source, message in layouts:
        with pytest.raises(WeightsError, match=message):
            load_encoder_weights(encoder, _save(tmp_path, state), source)
    del original["norm4.bias"]
    with pytest.raises(
        WeightsError,
        match=r"weights\.pth do not fit PVTv2Encoder: 1 missing key\(s\): net\.stages_3\.norm\.bias",
    ):
        load_encoder_weights(encoder, _save(tmp_path, original), "pvt_original")
    assert all(torch.equal(v, before[k]) for k, v in encoder.state_dict().items())  # untouched on error


def test_a_b5_file_into_b2_names_the_first_block_past_the_depth(tmp_path: Path) -> None:
    state = {"block2.4.norm1.weight": torch.ones(128)}
    with pytest.raises(WeightsError, match=r"'block2\.4\.norm1\.weight' is past the last block of stage 2"):
        pvt_original_to_avssl(state, "pvt_v2_b2", origin="b5.pth")


def test_weights_source_choices_are_checked_when_the_config_is_read(tmp_path: Path) -> None:
    cfg = from_dict(PVTConfig, {"name": "pvt_v2_b5", "weights_source": "pvt_original"})
    assert cfg.weights_source == "pvt_original"
    with pytest.raises(ConfigError, match="weights_source"):
        from_dict(PVTConfig, {"name": "pvt_v2_b5", "weights_source": "torchvision"})
    with pytest.raises(ConfigError, match="weights_source"):
        from_dict(Visual2dConfig, {"name": "resnet50", "weights_source": "pvt_original"})


def test_classifier_means_timms_classifier_so_a_resnet_config_switches_to_pvt(tmp_path: Path) -> None:
    """The AVS configs say ``weights_source: classifier`` for their ResNet-50: naming a PVT-v2 instead keeps
    working, and a timm classifier file then loads as with ``timm``."""
    schema = recipe_schema("avs")
    cfg = load_config(schema, ROOT / "recipes/configs/avs_s4.yaml", ["model.visual.name=pvt_v2_b2"])
    assert type(cfg.model.visual) is PVTConfig and cfg.model.visual.weights_source == "classifier"
    model = seeded_classifier("pvt_v2_b2")
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file(model.state_dict(), str(path))
    encoder = build_encoder(PVTConfig(name="pvt_v2_b2", weights=str(path), weights_source="classifier"))
    x = _image()
    with torch.no_grad():
        _assert_maps_equal(_stage_maps(encoder, x), model.forward_intermediates(x, intermediates_only=True))


def test_a_recipe_reports_a_weights_file_that_does_not_fit_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AVSSL_DEBUG", raising=False)
    path = _save(tmp_path, torchvision.models.resnet18(weights=None).state_dict())

    def main(argv: object) -> None:
        build_encoder(PVTConfig(name="pvt_v2_b2", weights=str(path), weights_source="timm"))

    assert script_main(main, []) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "weights.pth: key 'conv1.weight'" in err


def test_a_format_only_pvt_reads_is_refused_for_other_encoders(tmp_path: Path) -> None:
    path = _save(tmp_path, torchvision.models.resnet18(weights=None).state_dict())
    resnet = build_encoder(Visual2dConfig(name="resnet18"))
    with pytest.raises(
        WeightsError, match=r"unknown weights source 'timm' for ResNet2dEncoder .*weights\.pth"
    ):
        load_encoder_weights(resnet, path, "timm")


def test_the_key_map_inverts() -> None:
    original = to_original_layout(seeded_classifier("pvt_v2_b2").state_dict())
    for key in original:
        name = pvt_original_key(key, "pvt_v2_b2")
        assert (name is None) == key.startswith("head.")
        if name is not None:
            assert avssl_to_pvt_original_key(name) == key
