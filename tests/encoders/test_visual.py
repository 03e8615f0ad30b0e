"""2D ResNet and 3D video encoders: shapes, output stride 16, multi-scale features, per-frame clips."""

from __future__ import annotations

import pytest
import torch
import torchvision

from avssl.encoders import Visual2dConfig, build_encoder
from avssl.encoders.video import PyTorchVideoEncoder, VideoResNetEncoder
from avssl.encoders.visual import ResNet2dEncoder


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_stride16_is_the_atrous_version_of_stride32(arch: str) -> None:
    """Same weights: the dilated map sampled every 2nd pixel equals the stride-32 map (eval-mode BN)."""
    torch.manual_seed(0)
    coarse = ResNet2dEncoder(arch, output_stride=32).eval()
    fine = ResNet2dEncoder(arch, output_stride=16).eval()
    fine.load_state_dict(coarse.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out32, out16 = coarse(x), fine(x)
    assert out32.shape[-2:] == (2, 2) and out16.shape[-2:] == (4, 4)
    scale = out32.abs().max().item()  # float round-off differs between the two conv algorithms
    torch.testing.assert_close(out16[..., ::2, ::2], out32, rtol=1e-3, atol=1e-4 * scale)


def test_resnet50_stride16_matches_torchvision_dilation() -> None:
    torch.manual_seed(0)
    ours = ResNet2dEncoder("resnet50", output_stride=16).eval()
    ref = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=[False, False, True]).eval()
    ref.load_state_dict({**ours.state_dict(), "fc.weight": ref.fc.weight, "fc.bias": ref.fc.bias})
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = torch.nn.Sequential(*list(ref.children())[:-2])(x)
        torch.testing.assert_close(ours(x), expected)


def test_localization_maps_are_14x14_at_224_px() -> None:
    encoder = ResNet2dEncoder("resnet18", output_stride=16).eval()
    with torch.no_grad():
        assert encoder(torch.randn(1, 3, 224, 224)).shape == (1, 512, 14, 14)


@pytest.mark.parametrize(
    ("arch", "dims"), [("resnet18", (64, 128, 256, 512)), ("resnet50", (256, 512, 1024, 2048))]
)
def test_forward_features_returns_c2_to_c5(arch: str, dims: tuple[int, ...]) -> None:
    encoder = ResNet2dEncoder(arch).eval()
    with torch.no_grad():
        maps = encoder.forward_features(torch.randn(2, 3, 64, 64))
        clip_maps = encoder.forward_features(torch.randn(2, 3, 3, 64, 64))
    assert encoder.feature_dims == dims
    assert [m.shape for m in maps] == [(2, d, 64 // s, 64 // s) for d, s in zip(dims, (4, 8, 16, 32))]
    assert [m.shape for m in clip_maps] == [(2, d, 3, 64 // s, 64 // s) for d, s in zip(dims, (4, 8, 16, 32))]


def test_clip_input_is_encoded_frame_by_frame() -> None:
    torch.manual_seed(0)
    encoder = ResNet2dEncoder("resnet18").eval()
    clip = torch.randn(2, 3, 3, 64, 64)
    with torch.no_grad():
        out = encoder(clip)
        for t in range(3):
            torch.testing.assert_close(out[:, :, t], encoder(clip[:, :, t]))
        assert encoder(clip[:, :, :1]).shape == (2, 512, 1, 2, 2)  # T = 1 stays a clip


def test_input_channels_and_rank_checks() -> None:
    encoder = ResNet2dEncoder("resnet18", in_channels=1)
    assert encoder(torch.randn(1, 1, 64, 64)).shape == (1, 512, 2, 2)
    with pytest.raises(ValueError, match="expected"):
        encoder(torch.randn(1, 64, 64))
    with pytest.raises(ValueError, match="output_stride"):
        ResNet2dEncoder("resnet18", output_stride=8)


def test_video_encoders_shapes() -> None:
    clip = torch.randn(1, 2, 8, 64, 64)
    with torch.no_grad():
        assert VideoResNetEncoder("r3d_18", in_channels=2).eval()(clip).shape == (1, 512, 1, 4, 4)
        assert PyTorchVideoEncoder("x3d_s", in_channels=2).eval()(clip).shape == (1, 192, 8, 2, 2)
    with pytest.raises(ValueError, match="clip"):
        VideoResNetEncoder("r3d_18")(torch.randn(1, 3, 64, 64))


def _receptive_rows(name: str) -> tuple[int, int]:
    """Rows of a 112-px input that influence the centre location of the stride-8 map."""
    torch.manual_seed(0)
    encoder = build_encoder(Visual2dConfig(name=name, output_stride=8)).eval()
    x = torch.randn(1, 3, 112, 112, requires_grad=True)
    encoder(x)[0, :, 7, 7].sum().backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)) > 0).flatten()
    return int(rows.min()), int(rows.max())


def test_small_context_widens_the_receptive_field_at_the_same_resolution():
    plain, context = _receptive_rows("small"), _receptive_rows("small_context")
    assert plain[1] - plain[0] + 1 == 15  # three stride-2 3×3 convs
    assert context[1] - context[0] + 1 >= 100  # + dilated blocks (2, 4): 15 + 2·(2 + 4)·8 = 111 px
    out = build_encoder(Visual2dConfig(name="small_context", output_stride=8))(torch.randn(2, 3, 112, 112))
    assert out.shape == (2, 128, 14, 14)
