"""PVT-v2 (Wang et al., "PVT v2: Improved Baselines with Pyramid Vision Transformer", CVM 2022) through
`timm`, an optional dependency: the AVS paper's stronger backbone (pvt_v2_b5, Zhou et al., ECCV 2022).

``forward_features`` returns the 4 stage maps (strides 4, 8, 16, 32; dims 64, 128, 320, 512 for b2-b5);
``forward`` the last one. Nothing is downloaded: weights come from a local file through the encoder
config's ``weights_source``:

- ``"encoder"``: a state dict of this encoder (timm's ``features_only`` model under ``net.``);
- ``"timm"``: a state dict of timm's *classifier* ``pvt_v2_b*`` (the ImageNet file timm publishes,
  ``model.safetensors`` / ``pytorch_model.bin``; keys ``patch_embed.*``, ``stages.N.*``, ``head.*``):
  :func:`timm_to_avssl`; ``"classifier"`` is the same (timm's classifier is the network truncated here);
- ``"pvt_original"``: the original release's layout (Wang et al.'s ``classification/pvt_v2.py``; keys
  ``patch_embed1-4.*``, ``block1-4.J.*``, ``norm1-4.*``, ``head.*``), also the ``encoder_backbone.*`` of the
  AVSBench PVT models: :func:`pvt_original_to_avssl`.

The classifier head is dropped and reported (:class:`~avssl.encoders.weights.ConvertedState`); any other
key that is not a PVT-v2 parameter of ``arch`` is a :class:`~avssl.encoders.weights.WeightsError` naming
the file and the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from einops import rearrange
from torch import Tensor, nn

from avssl.encoders.weights import ConvertedState, WeightsError

PVT_ARCHS = ("pvt_v2_b2", "pvt_v2_b5")
# blocks per stage (Wang et al. 2022, Table 1; the release's pvt_v2_b2 / pvt_v2_b5)
PVT_DEPTHS: dict[str, tuple[int, int, int, int]] = {"pvt_v2_b2": (3, 4, 6, 3), "pvt_v2_b5": (3, 6, 40, 3)}

_HEAD = re.compile(r"^head\.(?:weight|bias)$")
_PARAM = r"(?:weight|bias)"
_BLOCK_PARAM = r"(?:norm1|norm2|attn\.(?:q|kv|proj|sr|norm)|mlp\.(?:fc1|{dwconv}|fc2))\.(?:weight|bias)"
_TIMM_BLOCK_PARAM = _BLOCK_PARAM.format(dwconv="dwconv")
_ORIGINAL_BLOCK_PARAM = _BLOCK_PARAM.format(dwconv=r"dwconv\.dwconv")  # the release wraps it in a DWConv
# timm's classifier (``stages.N``) or features_only model (``stages_N``), as this encoder holds it
_TIMM_KEY = re.compile(
    rf"^(?:patch_embed\.(?:proj|norm)\.{_PARAM}"
    rf"|stages[._](?P<stage>[0-3])\.(?P<rest>downsample\.(?:proj|norm)\.{_PARAM}|norm\.{_PARAM}"
    rf"|blocks\.(?P<block>\d+)\.{_TIMM_BLOCK_PARAM}))$"
)
# Wang et al.'s release: stage i (1-4) = patch_embed{i}, block{i} (a ModuleList), norm{i}
_ORIGINAL_KEY = re.compile(
    rf"^(?:patch_embed(?P<embed>[1-4])\.(?P<embed_param>(?:proj|norm)\.{_PARAM})"
    rf"|block(?P<stage>[1-4])\.(?P<block>\d+)\.(?P<param>{_ORIGINAL_BLOCK_PARAM})"
    rf"|norm(?P<norm>[1-4])\.(?P<norm_param>{_PARAM}))$"
)


def _timm():
    try:
        import timm
    except ImportError:
        raise ImportError(
            "the PVT-v2 encoders need the optional package timm: pip install timm "
            "(or use the resnet50 visual encoder)"
        ) from None
    return timm


def _layout_hint(key: str) -> str:
    """Which ``weights_source`` a key of another layout belongs to (for the error message)."""
    if key.startswith("net."):
        return " (an avssl PVT encoder's own key: use weights_source 'encoder')"
    if re.match(r"^(?:patch_embed[1-4]|block[1-4]|norm[1-4])\.", key):
        return " (the original PVT-v2 layout: use weights_source 'pvt_original')"
    if re.match(r"^(?:patch_embed|stages[._]\d)\.", key):
        return " (timm's layout: use weights_source 'timm')"
    return ""


def _depth_error(key: str, arch: str, stage: int, origin: str) -> WeightsError:
    depths = PVT_DEPTHS[arch]
    return WeightsError(
        f"{origin}: key {key!r} is past the last block of stage {stage + 1} of {arch} (depths {depths}): "
        "the file holds a deeper PVT-v2"
    )


def _timm_key_to_avssl(key: str, arch: str, origin: str, source_key: str) -> str:
    """A timm key (``stages.N`` or ``stages_N``) → this encoder's (``net.stages_N``); errors name ``source_key``."""
    match = _TIMM_KEY.match(key)
    if match is None:
        raise WeightsError(
            f"{origin}: key {source_key!r} is not a PVT-v2 parameter{_layout_hint(source_key)}"
        )
    if match["stage"] is None:
        return f"net.{key}"
    stage = int(match["stage"])
    if match["block"] is not None and int(match["block"]) >= PVT_DEPTHS[arch][stage]:
        raise _depth_error(source_key, arch, stage, origin)
    return f"net.stages_{stage}.{match['rest']}"


def _original_key_to_timm(key: str, origin: str) -> str:
    """A key of Wang et al.'s release → timm's classifier key (the correspondence timm's own
    ``checkpoint_filter_fn`` applies)."""
    match = _ORIGINAL_KEY.match(key)
    if match is None:
        raise WeightsError(
            f"{origin}: key {key!r} is not a PVT-v2 parameter in the original layout "
            f"(patch_embed1-4, block1-4, norm1-4, head){_layout_hint(key)}"
        )
    if match["embed"] is not None:
        stage = int(match["embed"]) - 1
        return (
            f"patch_embed.{match['embed_param']}"
            if stage == 0
            else f"stages.{stage}.downsample.{match['embed_param']}"
        )
    if match["norm"] is not None:
        return f"stages.{int(match['norm']) - 1}.norm.{match['norm_param']}"
    param = match["param"].replace("mlp.dwconv.dwconv.", "mlp.dwconv.")
    return f"stages.{int(match['stage']) - 1}.blocks.{match['block']}.{param}"


def _check_arch(arch: str) -> None:
    if arch not in PVT_DEPTHS:
        raise ValueError(f"unknown PVT-v2 {arch!r}; choose from {PVT_ARCHS}")


def timm_to_avssl(state: dict[str, Tensor], arch: str, origin: str = "state dict") -> ConvertedState:
    """A state dict of timm's classifier ``pvt_v2_b*`` (or its ``features_only`` model) → this encoder's
    parameter names (``net.`` + timm's ``features_only`` names). ``head.*`` is dropped and listed in
    ``ignored``; any other key that is not a parameter of ``arch`` raises :class:`WeightsError` naming
    ``origin`` and the key. Pure: tensors are not copied or modified."""
    _check_arch(arch)
    out: dict[str, Tensor] = {}
    ignored: list[str] = []
    for key, value in state.items():
        if _HEAD.match(key):
            ignored.append(key)
        else:
            out[_timm_key_to_avssl(key, arch, origin, key)] = value
    return ConvertedState(out, ignored)


def pvt_original_key(key: str, arch: str, origin: str = "state dict") -> str | None:
    """One key of the original PVT-v2 layout → this encoder's parameter name (None: the classifier head);
    :class:`WeightsError` naming ``origin`` and ``key`` when it is not a parameter of ``arch``."""
    _check_arch(arch)
    if _HEAD.match(key):
        return None
    return _timm_key_to_avssl(_original_key_to_timm(key, origin), arch, origin, key)


def avssl_to_pvt_original_key(name: str) -> str:
    """The inverse of :func:`pvt_original_key` for a parameter name of this encoder (for messages naming
    the released key a file lacks)."""
    match = re.match(r"^net\.(?:patch_embed\.(?P<stem>.+)|stages_(?P<stage>\d)\.(?P<rest>.+))$", name)
    if match is None:
        raise ValueError(f"{name!r} is not a PVT-v2 encoder parameter")
    if match["stem"] is not None:
        return f"patch_embed1.{match['stem']}"
    stage, rest = int(match["stage"]) + 1, match["rest"]
    if rest.startswith("downsample."):
        return f"patch_embed{stage}.{rest[len('downsample.') :]}"
    if rest.startswith("norm."):
        return f"norm{stage}.{rest[len('norm.') :]}"
    block, param = rest[len("blocks.") :].split(".", 1)
    return f"block{stage}.{block}.{param.replace('mlp.dwconv.', 'mlp.dwconv.dwconv.')}"


def pvt_original_to_avssl(state: dict[str, Tensor], arch: str, origin: str = "state dict") -> ConvertedState:
    """A state dict in the original PVT-v2 layout (Wang et al.'s ``classification/pvt_v2.py``:
    ``patch_embed{i}`` / ``block{i}.{j}`` / ``norm{i}`` for stages i = 1-4, ``head``) → this encoder's names.

    ``patch_embed1`` is timm's stem ``patch_embed``, ``patch_embed{2-4}`` the ``downsample`` of stages
    1-3, ``block{i}.{j}.mlp.dwconv.dwconv`` timm's ``mlp.dwconv``. ``head.*`` is dropped and listed in
    ``ignored``; anything else raises :class:`WeightsError` naming ``origin`` and the first such key."""
    out: dict[str, Tensor] = {}
    ignored: list[str] = []
    for key, value in state.items():
        name = pvt_original_key(key, arch, origin)
        if name is None:
            ignored.append(key)
        else:
            out[name] = value
    return ConvertedState(out, ignored)


class PVTv2Encoder(nn.Module):
    """Images (B, 3, H, W) → (B, 512, H/32, W/32); clips per frame (B, 3, T, H, W) → (B, 512, T, …)."""

    input_kind = "image"
    classifier_layout = None

    def __init__(self, arch: str = "pvt_v2_b5") -> None:
        super().__init__()
        if arch not in PVT_ARCHS:
            raise ValueError(f"unknown PVT-v2 {arch!r}; choose from {PVT_ARCHS}")
        self.net = _timm().create_model(arch, pretrained=False, features_only=True, out_indices=(0, 1, 2, 3))
        self.feature_dims: tuple[int, ...] = tuple(self.net.feature_info.channels())
        self.out_dim: int = self.feature_dims[-1]
        self.in_channels = 3
        # weights_source → converter of a file's state dict into this encoder's names
        self.weight_formats: dict[str, Callable[..., ConvertedState]] = {
            "timm": partial(timm_to_avssl, arch=arch),
            "classifier": partial(timm_to_avssl, arch=arch),
            "pvt_original": partial(pvt_original_to_avssl, arch=arch),
        }

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """The 4 stage maps, 4-D or (per frame) 5-D like the input."""
        clip = x.ndim == 5
        if clip:
            batch = x.shape[0]
            x = rearrange(x, "b c t h w -> (b t) c h w")
        maps = list(self.net(x))
        if clip:
            maps = [rearrange(m, "(b t) d h w -> b d t h w", b=batch) for m in maps]
        return maps

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)[-1]
