"""PVT-v2 weights in the two published layouts: timm's classifier checkpoints (the ImageNet files timm
publishes) and the original release's (Wang et al., "PVT v2: Improved Baselines with Pyramid Vision
Transformer", CVM 2022, ``classification/pvt_v2.py``; also the AVSBench PVT models' ``encoder_backbone``).

The original-layout files are made here by renaming a seeded timm model's keys with a map written from the
original module structure (stage i = ``patch_embed{i}``, ``block{i}`` (a ModuleList of blocks whose MLP
wraps its depthwise conv in a ``DWConv`` module, hence ``mlp.dwconv.dwconv``), ``norm{i}``, and ``head``).
:func:`_original_forward` is a minimal reimplementation of the original forward pass that reads those names
by their meaning, so a wrong correspondence (e.g. two norms swapped) changes the maps.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor

from avssl.config import ConfigError, from_dict, load_config
from avssl.encoders import PVTConfig, Visual2dConfig, WeightsError, build_encoder, load_encoder_weights
from avssl.encoders.pvt import PVTv2Encoder, pvt_original_to_avssl, timm_to_avssl
from avssl.runner.args import script_main
from avssl.runner.specs import recipe_schema

timm = pytest.importorskip("timm")
ROOT = Path(__file__).resolve().parents[2]

# the release's configuration (identical for b2 and b5): heads and spatial-reduction ratios per stage
_HEADS = (1, 2, 5, 8)
_SR_RATIOS = (8, 4, 2, 1)
_BLOCK_NORM_EPS = 1e-6  # norm_layer = partial(nn.LayerNorm, eps=1e-6): blocks' norm1/2 and norm{i}
_EMBED_NORM_EPS = 1e-5  # OverlapPatchEmbed.norm and Attention.norm are plain nn.LayerNorm


def _seeded_classifier(arch: str, seed: int = 0) -> torch.nn.Module:
    """timm's classifier with every parameter random (LayerNorm affine and biases too, so a norm or bias
    loaded into the wrong place changes the output)."""
    torch.manual_seed(seed)
    model = timm.create_model(arch, pretrained=False)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.normal_(1.0, 0.2)
                module.bias.normal_(0.0, 0.2)
            elif isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) and module.bias is not None:
                module.bias.normal_(0.0, 0.05)
    return model.eval()


def _to_original_layout(timm_state: dict[str, Tensor]) -> dict[str, Tensor]:
    """timm classifier names → the original release's names (written from its module structure)."""
    out = {}
    for key, value in timm_state.items():
        parts = key.split(".")
        if parts[0] == "patch_embed":
            name = "patch_embed1." + ".".join(parts[1:])
        elif parts[0] == "head":
            name = key
        else:
            assert parts[0] == "stages", key
            stage = int(parts[1]) + 1
            if parts[2] == "downsample":
                name = f"patch_embed{stage}." + ".".join(parts[3:])
            elif parts[2] == "norm":
                name = f"norm{stage}.{parts[3]}"
            else:
                assert parts[2] == "blocks", key
                rest = ".".join(parts[4:]).replace("mlp.dwconv.", "mlp.dwconv.dwconv.")
                name = f"block{stage}.{parts[3]}.{rest}"
        out[name] = value.clone()
    return out


class _Recorder(dict):
    """A state dict that records which keys were read."""

    def __init__(self, state: dict[str, Tensor]) -> None:
        super().__init__(state)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Tensor:
        self.read.add(key)
        return super().__getitem__(key)


def _ln(x: Tensor, s: dict, prefix: str, eps: float) -> Tensor:
    return F.layer_norm(x, x.shape[-1:], s[prefix + ".weight"], s[prefix + ".bias"], eps)


def _lin(x: Tensor, s: dict, prefix: str) -> Tensor:
    return F.linear(x, s[prefix + ".weight"], s[prefix + ".bias"])


def _original_block(s: dict, p: str, t: Tensor, hw: tuple[int, int], heads: int, sr: int) -> Tensor:
    """One block of the release: spatial-reduction attention, then the MLP with a depthwise 3×3 conv."""
    (b, n, c), (h, w) = t.shape, hw
    x = _ln(t, s, p + "norm1", _BLOCK_NORM_EPS)
    q = _lin(x, s, p + "attn.q").reshape(b, n, heads, c // heads).permute(0, 2, 1, 3)
    reduced = x
    if sr > 1:
        grid = x.transpose(1, 2).reshape(b, c, h, w)
        grid = F.conv2d(grid, s[p + "attn.sr.weight"], s[p + "attn.sr.bias"], stride=sr)
        reduced = _ln(grid.reshape(b, c, -1).transpose(1, 2), s, p + "attn.norm", _EMBED_NORM_EPS)
    kv = _lin(reduced, s, p + "attn.kv").reshape(b, -1, 2, heads, c // heads).permute(2, 0, 3, 1, 4)
    attn = ((q @ kv[0].transpose(-2, -1)) * (c // heads) ** -0.5).softmax(dim=-1)
    t = t + _lin((attn @ kv[1]).transpose(1, 2).reshape(b, n, c), s, p + "attn.proj")
    hidden = _lin(_ln(t, s, p + "norm2", _BLOCK_NORM_EPS), s, p + "mlp.fc1")
    d = hidden.shape[-1]
    conv = s[p + "mlp.dwconv.dwconv.weight"], s[p + "mlp.dwconv.dwconv.bias"]
    hidden = F.conv2d(hidden.transpose(1, 2).reshape(b, d, h, w), *conv, padding=1, groups=d)
    return t + _lin(F.gelu(hidden.flatten(2).transpose(1, 2)), s, p + "mlp.fc2")


def _original_forward(s: dict, x: Tensor) -> list[Tensor]:
    """The release's stage outputs (as the AVSBench backbone returns them): per stage an overlapping patch
    embedding (7×7 stride 4, then 3×3 stride 2), the blocks, the stage norm, back to (B, C, H, W)."""
    maps = []
    for i in range(1, 5):
        weight = s[f"patch_embed{i}.proj.weight"]
        x = F.conv2d(
            x,
            weight,
            s[f"patch_embed{i}.proj.bias"],
            stride=4 if i == 1 else 2,
            padding=weight.shape[-1] // 2,
        )
        b, c, h, w = x.shape
        t = _ln(x.flatten(2).transpose(1, 2), s, f"patch_embed{i}.norm", _EMBED_NORM_EPS)
        j = 0
        while f"block{i}.{j}.norm1.weight" in s:
            t = _original_block(s, f"block{i}.{j}.", t, (h, w), _HEADS[i - 1], _SR_RATIOS[i - 1])
            j += 1
        x = _ln(t, s, f"norm{i}", _BLOCK_NORM_EPS).reshape(b, h, w, c).permute(0, 3, 1, 2)
        maps.append(x)
    return maps


def _image() -> Tensor:
    return torch.randn(
        2, 3, 96, 64, generator=torch.Generator().manual_seed(3)
    )  # non-square: H, W not swapped


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
    model = _seeded_classifier("pvt_v2_b2")
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
    safetensors.torch.save_file(_seeded_classifier("pvt_v2_b2").state_dict(), str(path))
    with pytest.raises(WeightsError, match="332 missing key"):
        build_encoder(PVTConfig(name="pvt_v2_b2", weights=str(path)))


@pytest.mark.parametrize("arch", ["pvt_v2_b2", "pvt_v2_b5"])
def test_original_layout_loads_and_matches_a_reimplementation_of_the_release(
    tmp_path: Path, arch: str
) -> None:
    model = _seeded_classifier(arch, seed=1)
    original = _to_original_layout(model.state_dict())
    path = tmp_path / f"{arch}.pth"
    torch.save(original, path)
    encoder = build_encoder(PVTConfig(name=arch, weights=str(path), weights_source="pvt_original"))
    x = _image()
    recorder = _Recorder({k: v.double() for k, v in original.items()})
    with torch.no_grad():  # the reference in float64: what remains is float32 rounding of ours
        reference = [m.float() for m in _original_forward(recorder, x.double())]
        timm_maps = model.forward_intermediates(x, intermediates_only=True)
    assert recorder.read == set(original) - {"head.weight", "head.bias"}  # every renamed key has a meaning
    _assert_maps_equal(timm_maps, reference)  # the test's own map agrees with the release's semantics
    _assert_maps_equal(_stage_maps(encoder, x), reference)


def test_conversion_is_pure_and_names_every_encoder_parameter() -> None:
    model = _seeded_classifier("pvt_v2_b2")
    original = _to_original_layout(model.state_dict())
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
    original = _to_original_layout(_seeded_classifier("pvt_v2_b2").state_dict())
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
    timm_state = _seeded_classifier("pvt_v2_b2").state_dict()
    original = _to_original_layout(timm_state)
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
    model = _seeded_classifier("pvt_v2_b2")
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
