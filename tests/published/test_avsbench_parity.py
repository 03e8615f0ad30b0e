"""The released AVSBench models (ResNet-50 and PVT-v2-b5) import and segment exactly as the authors' model.

A minimal reimplementation of the released ``Pred_endecoder`` (written from the paper and the reference
code's module structure: ``Classifier_Module`` reductions, ``TPAVIModule`` with its explicit N×N attention,
``FeatureFusionBlock`` / ``ResidualConvUnit`` with their in-place ReLUs, ``output_conv``, the two-branch
ResNet-50; for the PVT models the original PVT-v2 forward of ``tests/encoders/pvt_reference.py``) and of
torchvggish's VGG, filled with seeded random values under the released key names, is
mapped with ``map_state`` and loaded strictly into the avs task built from ``run_config()``; the masks, the
training loss (the released S4 / MS3 losses) and its gradients must agree.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.config import from_saved_dict
from avssl.published import CheckpointError
from avssl.published.avsbench import AVSBENCH, map_vggish
from avssl.tasks import TASKS

sys.path.insert(0, str(Path(__file__).parent))  # tests are imported with importlib (pyproject addopts)
from avsbench_reference import PredEndecoder, T, reference_forward, reference_model, released_pair  # noqa: E402


@functools.cache
def build(kind: str) -> tuple[nn.Module, PredEndecoder, dict[str, Tensor]]:
    """(avs task loaded from the mapped file, reference model, VGGish weights); built once per kind: the
    tests change only what both models share identically (BatchNorm statistics of a training forward)."""
    pvt = kind.endswith("-pvt")
    released, vgg = released_pair(pvt=pvt)
    mapped = AVSBENCH[kind].map_state(dict(released))
    audio = map_vggish(dict(vgg))
    config = AVSBENCH[kind].run_config()
    config_cls, builder = TASKS[config["task"]]
    task = builder(from_saved_dict(config_cls, config["model"]))
    task.load_state_dict({**mapped.state, **audio.state}, strict=True)
    reference = reference_model(released, pvt)
    if not pvt:
        assert any(k.startswith("resnet.layer3_2.") for k in mapped.ignored)
    assert any(k.startswith("path4.resConfUnit1.") for k in mapped.ignored)
    return task, reference, vgg


def inputs(size: int = 32) -> dict:
    g = torch.Generator().manual_seed(5)
    return {
        "video": torch.randn(2, 3, T, size, size, generator=g),
        "audio": 0.2 * torch.randn(2, 1, 16000 * T, generator=g),
        "mask": (torch.rand(2, T, size, size, generator=g) > 0.6).to(torch.uint8),
    }


def reference_loss(
    kind: str, pred: Tensor, maps: list[Tensor], audios: list[Tensor], masks: Tensor
) -> Tensor:
    """avs_s4 loss.py (train.sh: no sa loss) / avs_ms3 loss.py (--masked_av_flag --kl_flag, λ 0.5)."""
    prob = torch.sigmoid(pred)  # (B·T, 1, H, W)
    gt = masks.float().reshape(-1, 1, *masks.shape[-2:])
    if kind == "avsbench-s4-r50":
        first = torch.arange(0, len(prob), T)
        return nn.BCELoss()(prob[first], gt[first])
    total = 0
    for v_map, a_fea in zip(maps, audios):
        a_fea = a_fea.reshape(-1, a_fea.shape[-1])
        down = torch.sigmoid(nn.AdaptiveAvgPool2d(v_map.shape[-2:])(pred))
        v = torch.mul(v_map, down).mean(-1).mean(-1)
        total += F.kl_div(v.softmax(dim=-1).log(), a_fea.softmax(dim=-1), reduction="sum")
    return nn.BCELoss()(prob, gt) + 0.5 * total / len(maps)


@pytest.mark.parametrize(
    "kind", ["avsbench-s4-r50", "avsbench-ms3-r50", "avsbench-s4-pvt", "avsbench-ms3-pvt"]
)
def test_imported_masks_equal_the_reference_forward(kind: str) -> None:
    torch.set_num_threads(2)
    task, reference, vgg = build(kind)
    task.eval(), reference.eval()
    batch = inputs()
    with torch.no_grad():
        ours = task.segment(batch)
        pred, _, _ = reference_forward(reference, vgg, batch)
    theirs = torch.sigmoid(pred).reshape(2, T, *pred.shape[-2:])
    assert ours.shape == theirs.shape == (2, T, 32, 32)
    assert ((theirs > 0.05) & (theirs < 0.95)).float().mean() > 0.2  # not saturated: the comparison bites
    assert (theirs[0] - theirs[1]).abs().max() > 1e-2
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["avsbench-s4-r50", "avsbench-ms3-r50"])
def test_training_loss_and_gradients_equal_the_released_loss(kind: str) -> None:
    torch.set_num_threads(2)
    task, reference, vgg = build(kind)
    task.train(), reference.train()
    task.zero_grad(set_to_none=True), reference.zero_grad(set_to_none=True)
    batch = inputs()
    loss = task(batch).loss
    pred, maps, audios = reference_forward(reference, vgg, batch)
    expected = reference_loss(kind, pred, maps, audios, batch["mask"])
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    loss.backward()
    expected.backward()
    for ours, theirs in (
        ("head.tpavi.0.theta.weight", "tpavi_b1.theta"),
        ("head.reduce.1.branches.2.bias", "conv2.conv2d_list.2"),
    ):
        module = reference.get_submodule(theirs)
        grad = module.weight.grad if ours.endswith("weight") else module.bias.grad
        torch.testing.assert_close(task.get_parameter(ours).grad, grad, atol=1e-6, rtol=1e-4)
    assert all(p.grad is None for p in task.audio_encoder.parameters())  # frozen, as released


def test_a_wrong_missing_or_misshapen_key_is_named() -> None:
    released, _ = released_pair()
    published = AVSBENCH["avsbench-s4-r50"]
    renamed = dict(released)
    renamed["tpavi_b2.align.weight"] = renamed.pop("tpavi_b2.align_channel.weight")
    with pytest.raises(CheckpointError, match=r"'tpavi_b2\.align\.weight'"):
        published.map_state(renamed)
    missing = {k: v for k, v in released.items() if k != "path2.resConfUnit2.conv1.bias"}
    with pytest.raises(CheckpointError, match=r"missing key 'path2\.resConfUnit2\.conv1\.bias'"):
        published.map_state(missing)
    misshapen = {**released, "conv3.conv2d_list.0.weight": torch.zeros(128, 1024, 3, 3)}
    with pytest.raises(
        CheckpointError, match=r"'conv3\.conv2d_list\.0\.weight' has shape \(128, 1024, 3, 3\)"
    ):
        published.map_state(misshapen)
    with pytest.raises(CheckpointError, match=r"missing key 'features\.0\.weight'"):
        map_vggish({})


def test_a_pvt_file_names_its_wrong_or_missing_backbone_key() -> None:
    released, _ = released_pair(pvt=True)
    published = AVSBENCH["avsbench-s4-pvt"]
    missing = {k: v for k, v in released.items() if k != "encoder_backbone.block3.39.mlp.dwconv.dwconv.bias"}
    with pytest.raises(
        CheckpointError, match=r"missing key 'encoder_backbone\.block3\.39\.mlp\.dwconv\.dwconv\.bias'"
    ):
        published.map_state(missing)
    deeper = {
        **released,
        "encoder_backbone.block3.40.norm1.weight": torch.ones(320),
    }  # b5 has 40 blocks there
    with pytest.raises(
        CheckpointError, match=r"unexpected key 'encoder_backbone\.block3\.40\.norm1\.weight'"
    ):
        published.map_state(deeper)
    with pytest.raises(CheckpointError, match=r"unexpected key 'resnet\.conv1\.weight'.*avsbench-s4-pvt"):
        published.map_state(released_pair()[0])  # a ResNet-50 file given as the PVT kind
