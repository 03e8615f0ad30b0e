"""A minimal reimplementation of the original PVT-v2 forward pass (Wang et al., "PVT v2: Improved Baselines
with Pyramid Vision Transformer", CVM 2022; the release's ``classification/pvt_v2.py``, also the AVSBench PVT
models' ``encoder_backbone``), written from the release's module structure, and the map from timm's names
to the release's. Shared by the PVT weights tests and the AVSBench PVT parity tests (imported with
``sys.path``: the tests are collected with ``--import-mode=importlib``).

The original layout: stage i (1-4) = ``patch_embed{i}`` (overlapping patch embedding: conv 7×7 stride 4,
then 3×3 stride 2, and a LayerNorm), ``block{i}`` (a ModuleList of blocks; a block's MLP wraps its
depthwise conv in a ``DWConv`` module, hence ``mlp.dwconv.dwconv``), ``norm{i}``; then ``head``.
:func:`original_forward` reads those names by their meaning, so a wrong correspondence (e.g. two norms
swapped) changes the maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# the release's configuration (identical for b2 and b5): heads and spatial-reduction ratios per stage
_HEADS = (1, 2, 5, 8)
_SR_RATIOS = (8, 4, 2, 1)
_BLOCK_NORM_EPS = 1e-6  # norm_layer = partial(nn.LayerNorm, eps=1e-6): blocks' norm1/2 and norm{i}
_EMBED_NORM_EPS = 1e-5  # OverlapPatchEmbed.norm and Attention.norm are plain nn.LayerNorm


def seeded_classifier(arch: str, seed: int = 0) -> torch.nn.Module:
    """timm's classifier with every parameter random (LayerNorm affine and biases too, so a norm or bias
    loaded into the wrong place changes the output)."""
    import timm

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


def to_original_layout(timm_state: dict[str, Tensor]) -> dict[str, Tensor]:
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


class Recorder(dict):
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


def original_forward(s: dict, x: Tensor) -> list[Tensor]:
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
