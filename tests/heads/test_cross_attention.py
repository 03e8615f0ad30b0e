"""SwAV's spatial cross-attention add-on (`avssl.heads.cross_attention`, Seyfi et al. 2022): the maps and the
group-averaged pooled features against a per-pair loop; in the image_ssl task it trains the backbone and
drops out for inference without changing any output or weight."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from avssl.data.loader import build_loader
from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder
from avssl.heads.cross_attention import SpatialCrossAttention
from avssl.runner.image_data import ImageDataConfig, image_dataset
from avssl.tasks.image_ssl import ImageSSL, ImageSSLConfig


def test_cross_attention_against_a_loop() -> None:
    torch.manual_seed(0)
    module = SpatialCrossAttention(6, temperature=0.2)
    features = torch.randn(4, 6, 3, 5)
    groups = torch.tensor([1, 0, 1, 2])
    out = module(features, groups)
    queries = module.query(features)
    expected = torch.zeros(4, 6)
    for i in range(4):
        members = [j for j in range(4) if groups[j] == groups[i] or j == i]
        for j in members:
            key = features[j].flatten(1).mean(1)
            key = key / key.norm()
            scores = []
            for p in range(15):
                q = queries[i].flatten(1)[:, p]
                scores.append(float(q @ key) / float(q.norm()) / 0.2)
            weights = [math.exp(s) for s in scores]
            total = sum(weights)
            z = sum(w / total * features[i].flatten(1)[:, p] for p, w in enumerate(weights))
            expected[i] += z / len(members)
    assert torch.allclose(out, expected, atol=1e-5)
    assert module.attention(features).shape == (4, 4, 15)
    with pytest.raises(ValueError, match="temperature"):
        SpatialCrossAttention(6, temperature=0.0)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    spec = ImageSynthSpec(size=32, objects=(1, 2))
    root = write_image_folder(tmp_path_factory.mktemp("tree"), {"train": 8}, spec=spec)
    return next(
        iter(build_loader(image_dataset(ImageDataConfig(root=str(root), size=32), "train", True), 8, 0))
    )


def _config(**kwargs) -> ImageSSLConfig:
    return ImageSSLConfig(method="swav", prototypes=10, **kwargs)


def test_the_add_on_trains_and_is_removed_without_changing_the_model(batch) -> None:
    torch.manual_seed(1)
    task = ImageSSL(_config(cross_attention=True, cross_weight=0.5))
    optimizer = torch.optim.SGD(task.parameters(), lr=0.1)
    for step in range(2):
        out = task(batch)
        optimizer.zero_grad()
        out.loss.backward()
        assert torch.isfinite(out.logs["loss/cross"]) and task.cross.query.weight.grad.abs().sum() > 0
        optimizer.step()
        task.on_step_end(step + 1, 10)
    task.eval()
    images = {"video": batch["video"]}
    before = task.embed(images, "video")
    state = {k: v for k, v in task.state_dict().items() if not k.startswith("cross.")}
    task.remove_cross_attention()
    assert task.cross is None and torch.equal(task.embed(images, "video"), before)
    plain = ImageSSL(_config()).eval()  # the same model built without the add-on takes every weight
    plain.load_state_dict(state, strict=True)
    assert torch.equal(plain.embed(images, "video"), before)


def test_the_cross_term_is_the_swapped_prediction_of_the_attended_view(batch) -> None:
    """loss(with add-on) − loss(without) = weight × CE(code of view 1, softmax(prototype scores of the
    attended view-0 feature / τ)), same weights and views."""
    from avssl.losses.swav import sinkhorn

    torch.manual_seed(2)
    task = ImageSSL(_config(cross_attention=True, cross_weight=0.7))
    out = task(batch)
    with torch.no_grad():
        images = [v["video"][:, :, 0] for v in batch["views"]]
        weight = F.normalize(task.prototypes.weight, dim=1)
        z = [F.normalize(task.head(task.backbone(x).mean((2, 3))), dim=1) for x in images]
        codes = [sinkhorn((zi @ weight.T), 0.05, 3) for zi in z]
        attended = task.cross(task.backbone(images[0]), codes[0].argmax(1))
        scores = F.normalize(task.head(attended), dim=1) @ weight.T
        cross = -(codes[1] * F.log_softmax(scores / 0.1, dim=1)).sum(1).mean()
    assert torch.allclose(out.logs["loss/cross"], cross, atol=1e-5)
    with pytest.raises(ValueError, match="method=swav"):
        ImageSSL(ImageSSLConfig(method="moco", cross_attention=True))
