"""A minimal reimplementation of the released AVSBench ``Pred_endecoder`` (``ResNet_AVSModel.py`` /
``PVT_AVSModel.py``, Zhou et al., "Audio-Visual Segmentation", ECCV 2022), written from the paper and the
reference code's module structure: ``Classifier_Module`` reductions, ``TPAVIModule`` with its explicit N×N
attention, ``FeatureFusionBlock`` / ``ResidualConvUnit`` with their in-place ReLUs, ``output_conv``, the
two-branch ResNet-50 or the original PVT-v2 forward (``tests/encoders/pvt_reference.py``), torchvggish's
VGG; and released-format state dicts filled with seeded random values. Shared by the parity and the CLI
tests (imported with ``sys.path``: tests are collected with ``--import-mode=importlib``)."""

from __future__ import annotations

import copy
import functools
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from avssl.encoders.vggish import vggish_patches

sys.path.insert(0, str(Path(__file__).parents[1] / "encoders"))
from pvt_reference import original_forward, seeded_classifier, to_original_layout  # noqa: E402

T = 5  # the released model reshapes by 5 frames per video
RESNET50_DIMS = (256, 512, 1024, 2048)
PVT_DIMS = (64, 128, 320, 512)  # PVT_AVSModel.py's vis_dim


class ClassifierModule(nn.Module):
    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv2d_list = nn.ModuleList(
            nn.Conv2d(in_channels, channels, 3, padding=d, dilation=d, bias=True) for d in (3, 6, 12, 18)
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2d_list[0](x)
        for conv in self.conv2d_list[1:]:
            out += conv(x)
        return out


class ResidualConvUnit(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(x)  # in place: x itself is rectified
        out = self.conv2(self.relu(self.conv1(out)))
        return out + x


class FeatureFusionBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(c)
        self.resConfUnit2 = ResidualConvUnit(c)

    def forward(self, *xs: Tensor) -> Tensor:
        output = xs[0]
        if len(xs) == 2:
            output += self.resConfUnit1(xs[1])
        output = self.resConfUnit2(output)
        return F.interpolate(output, scale_factor=2, mode="bilinear", align_corners=True)


class Interpolate(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class TPAVIModule(nn.Module):
    """Dot-product mode, 3-D, with W_z's BatchNorm; the N×N matrix computed explicitly."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.inter = c // 2
        self.align_channel = nn.Linear(128, c)
        self.norm_layer = nn.LayerNorm(c)
        self.g = nn.Conv3d(c, self.inter, 1)
        self.W_z = nn.Sequential(nn.Conv3d(self.inter, c, 1), nn.BatchNorm3d(c))
        self.theta = nn.Conv3d(c, self.inter, 1)
        self.phi = nn.Conv3d(c, self.inter, 1)

    def forward(self, x: Tensor, audio: Tensor) -> tuple[Tensor, Tensor]:
        b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        audio_temp = self.align_channel(audio)  # (B, T, C)
        a = audio_temp.permute(0, 2, 1)[..., None, None].repeat(1, 1, 1, h, w)
        g_x = self.g(x).view(b, self.inter, -1).permute(0, 2, 1)
        theta_x = self.theta(x).view(b, self.inter, -1).permute(0, 2, 1)
        phi_x = self.phi(a).view(b, self.inter, -1)
        f = torch.matmul(theta_x, phi_x)
        y = torch.matmul(f / f.size(-1), g_x).permute(0, 2, 1).contiguous()
        z = self.W_z(y.view(b, self.inter, *x.shape[2:])) + x
        z = self.norm_layer(z.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return z, audio_temp


class B2ResNet(nn.Module):
    """torchvision's ResNet-50 modules under the released names, with the unused second branch."""

    def __init__(self) -> None:
        super().__init__()
        net = torchvision.models.resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3_1, self.layer4_1 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        self.layer3_2 = copy.deepcopy(net.layer3)
        self.layer4_2 = copy.deepcopy(net.layer4)


class PredEndecoder(nn.Module):
    """``ResNet_AVSModel.Pred_endecoder`` (``pvt=False``) or ``PVT_AVSModel.Pred_endecoder``: the PVT one's
    ``encoder_backbone`` parameters are held outside the module (``pvt_state``, original layout) and run by
    :func:`original_forward`."""

    def __init__(self, c: int = 256, pvt: bool = False) -> None:
        super().__init__()
        self.pvt_state: dict[str, Tensor] | None = None
        if not pvt:
            self.resnet = B2ResNet()
        for i, d in enumerate(PVT_DIMS if pvt else RESNET50_DIMS):
            setattr(self, f"conv{i + 1}", ClassifierModule(d, c))
            setattr(self, f"path{i + 1}", FeatureFusionBlock(c))
            setattr(self, f"tpavi_b{i + 1}", TPAVIModule(c))
        self.output_conv = nn.Sequential(
            nn.Conv2d(c, 128, 3, padding=1), Interpolate(), nn.Conv2d(128, 32, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(32, 1, 1),
        )  # fmt: skip

    def tpavi(self, x: Tensor, audio: Tensor, stage: int) -> tuple[Tensor, Tensor]:
        _, c, h, w = x.shape
        x = x.reshape(-1, T, c, h, w).permute(0, 2, 1, 3, 4).contiguous()
        z, a = getattr(self, f"tpavi_b{stage + 1}")(x, audio.view(-1, T, audio.shape[-1]))
        return z.permute(0, 2, 1, 3, 4).view(-1, c, h, w), a

    def backbone(self, x: Tensor) -> list[Tensor]:
        if self.pvt_state is not None:
            return original_forward(self.pvt_state, x)
        r = self.resnet
        x = r.maxpool(r.relu(r.bn1(r.conv1(x))))
        x1 = r.layer1(x)
        x2 = r.layer2(x1)
        x3 = r.layer3_1(x2)
        return [x1, x2, x3, r.layer4_1(x3)]

    def forward(self, x: Tensor, audio: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        x1, x2, x3, x4 = self.backbone(x)
        maps = [self.conv1(x1), self.conv2(x2), self.conv3(x3), self.conv4(x4)]
        audios = []
        for i in range(4):
            maps[i], a = self.tpavi(maps[i], audio, i)
            audios.append(a)
        p = self.path4(maps[3])
        p = self.path3(p, maps[2])
        p = self.path2(p, maps[1])
        p = self.path1(p, maps[0])
        return self.output_conv(p), maps, audios


def vgg_reference(sd: dict[str, Tensor], patches: Tensor) -> Tensor:
    """torchvggish's VGG on (N, 1, 96, 64) log-mel patches, ending with its ReLU (128-d)."""
    x = patches
    for i in (0, 3, 6, 8, 11, 13):
        x = F.relu(F.conv2d(x, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], padding=1))
        if i in (0, 3, 8, 13):
            x = F.max_pool2d(x, 2, 2)
    x = x.transpose(1, 3).transpose(1, 2).contiguous().view(x.size(0), -1)
    for i in (0, 2, 4):
        x = F.relu(F.linear(x, sd[f"embeddings.{i}.weight"], sd[f"embeddings.{i}.bias"]))
    return x


def vggish_state() -> dict[str, Tensor]:
    shapes = {0: (64, 1), 3: (128, 64), 6: (256, 128), 8: (256, 256), 11: (512, 256), 13: (512, 512)}
    sd = {}
    for i, (o, c) in shapes.items():
        sd[f"features.{i}.weight"], sd[f"features.{i}.bias"] = torch.empty(o, c, 3, 3), torch.empty(o)
    for i, (o, c) in {0: (4096, 12288), 2: (4096, 4096), 4: (128, 4096)}.items():
        sd[f"embeddings.{i}.weight"], sd[f"embeddings.{i}.bias"] = torch.empty(o, c), torch.empty(o)
    return sd


def randomised(sd: dict[str, Tensor], seed: int) -> dict[str, Tensor]:
    """Seeded random values for every tensor (weights ~ N(0, 1/fan_in), BatchNorm statistics plausible)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, v in sd.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            out[key] = 0.5 + torch.rand(v.shape, generator=g)
        elif v.ndim >= 2:
            out[key] = torch.randn(v.shape, generator=g) / (v[0].numel() ** 0.5)
        elif key.endswith("weight"):  # norms' scales (W_z's BatchNorm included: released ones are trained)
            out[key] = 1.0 + 0.2 * torch.randn(v.shape, generator=g)
        else:
            out[key] = 0.1 * torch.randn(v.shape, generator=g)
    return out


PVT_PREFIX = "encoder_backbone."


@functools.cache
def released_pair(seed: int = 0, pvt: bool = False) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(released Pred_endecoder state dict, torchvggish state dict), seeded random values; the PVT
    backbone's in the original PVT-v2 layout without the classifier head (commented out in the release)."""
    torch.manual_seed(seed)
    released = randomised(PredEndecoder(pvt=pvt).state_dict(), seed)
    if pvt:
        backbone = to_original_layout(seeded_classifier("pvt_v2_b5", seed).state_dict())
        released.update({PVT_PREFIX + k: v for k, v in backbone.items() if not k.startswith("head.")})
    return released, randomised(vggish_state(), seed + 1)


def reference_forward(reference: PredEndecoder, vgg: dict[str, Tensor], batch: dict) -> tuple:
    b, _, t, h, w = batch["video"].shape
    patches = vggish_patches(batch["audio"], 16000)  # (B, T, 96, 64): the log-mel examples, one per frame
    audio_feature = vgg_reference(vgg, patches.reshape(-1, 1, 96, 64))  # (B·T, 128)
    imgs = batch["video"].permute(0, 2, 1, 3, 4).reshape(b * t, 3, h, w)
    return reference(imgs, audio_feature)


def reference_model(released: dict[str, Tensor], pvt: bool = False) -> PredEndecoder:
    """The released model with ``released`` loaded (strictly; the PVT backbone's part held in ``pvt_state``)."""
    reference = PredEndecoder(pvt=pvt)
    reference.load_state_dict(
        {k: v for k, v in released.items() if not k.startswith(PVT_PREFIX)}, strict=True
    )
    if pvt:
        reference.pvt_state = {
            k[len(PVT_PREFIX) :]: v for k, v in released.items() if k.startswith(PVT_PREFIX)
        }
    return reference
