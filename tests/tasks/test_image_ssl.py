"""The image_ssl task: MoCo and BYOL bases, background augmentation on the views with masks from the data
(annotated or random-init saliency, following every crop and flip), the `method=` / `views=` presets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from avssl.config import ConfigError
from avssl.data.datasets.image_folder import ImageViewsDataset, image_folder_items
from avssl.data.decoding.images import read_image
from avssl.data.loader import build_loader
from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder
from avssl.runner.image_data import ImageDataConfig, ImageMasks, image_dataset, image_ssl_presets
from avssl.runner.specs import recipe_schema
from avssl.tasks.image_ssl import ImageSSL, ImageSSLConfig
from avssl.transforms import build_transforms
from avssl.transforms.image_backgrounds import BackgroundAugConfig


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    spec = ImageSynthSpec(size=32, objects=(1, 2), background="stripes", background_p=0.8)
    return write_image_folder(tmp_path_factory.mktemp("tree"), {"train": 12}, spec=spec)


def test_annotated_masks_follow_the_view_geometry(tree) -> None:
    items, _ = image_folder_items(tree, "train")
    flip = build_transforms([{"name": "random_horizontal_flip", "p": 1.0}, {"name": "normalize"}])
    crop = build_transforms(
        [{"name": "random_resized_crop", "size": 16, "scale": [0.3, 0.6]}, {"name": "normalize"}]
    )
    masks = ImageMasks("annotations", str(tree), "train")
    sample = ImageViewsDataset(items, [flip, crop], mask_fn=masks)[0]
    truth = (read_image(tree / "masks" / "train" / str(items[0][0]).split("train/")[1])[..., 0] > 0).to(
        torch.uint8
    )
    assert torch.equal(sample["views"][0]["mask"][0], truth.flip(-1))
    assert sample["views"][1]["mask"].shape == (1, 16, 16)


def test_saliency_masks_are_unsupervised_and_shaped(tree) -> None:
    items, _ = image_folder_items(tree, "train")
    pixels = read_image(items[0][0])
    for source in ("saliency", "saliency_grid"):
        mask = ImageMasks(source, str(tree), "train")(items[0][0], pixels)
        assert mask.shape == (32, 32) and mask.dtype == torch.uint8 and 0 < int(mask.sum()) < 32 * 32
    grid = ImageMasks("saliency_grid", str(tree), "train")(items[0][0], pixels)
    assert int(grid.sum()) == round(0.3 * 16) * 64  # 5 of 16 cells of 8 × 8
    classical = ImageMasks("saliency", str(tree), "train", method="spectral_residual")(items[0][0], pixels)
    assert classical.shape == (32, 32) and not torch.equal(
        classical, ImageMasks("saliency", str(tree), "train")(items[0][0], pixels)
    )
    with pytest.raises(ValueError, match="saliency_method"):
        ImageDataConfig(saliency_method="itti")


@pytest.mark.parametrize(
    "method,mode",
    [
        ("moco", "bg_swaps"),
        ("moco", "bg_random"),
        ("byol", "bg_swaps"),
        ("moco", "none"),
        ("swav", "bg_random"),
    ],
)
def test_forward_backward(tree, method, mode) -> None:
    data = ImageDataConfig(root=str(tree), size=32, masks="annotations" if mode != "none" else "")
    batch = next(iter(build_loader(image_dataset(data, "train", train=True), 6, 0)))
    task = ImageSSL(
        ImageSSLConfig(method=method, queue_size=12, background=BackgroundAugConfig(mode=mode, p=1.0))
    )
    out = task(batch)
    out.loss.backward()
    assert torch.isfinite(out.loss) and (out.logs["bg/changed"] > 0) == (mode != "none")
    assert task.embed({"video": batch["video"]}, "video").shape[0] == 6
    task.on_step_end(1, 10)


def test_background_modes_need_masks(tree) -> None:
    batch = next(
        iter(build_loader(image_dataset(ImageDataConfig(root=str(tree), size=32), "train", train=True), 4, 0))
    )
    task = ImageSSL(ImageSSLConfig(queue_size=16, background=BackgroundAugConfig(mode="bg_random")))
    with pytest.raises(ValueError, match="set data.masks"):
        task(batch)


def test_presets() -> None:
    cfg = recipe_schema("image_ssl")()
    cfg.method, cfg.views = "byol", "tobias"
    image_ssl_presets(cfg)
    assert (
        cfg.model.method == "byol"
        and cfg.model.background.mode == "bg_random"
        and cfg.data.masks == "saliency_grid"
    )
    cfg = recipe_schema("image_ssl")()
    cfg.views, cfg.data.masks = "bg_swaps", "annotations"
    image_ssl_presets(cfg)
    assert cfg.model.background.mode == "bg_swaps" and cfg.data.masks == "annotations"  # masks kept
    cfg = recipe_schema("image_ssl")()
    cfg.method, cfg.views = "swav", "multicrop_nn"
    image_ssl_presets(cfg)
    assert cfg.model.method == "swav" and cfg.model.nn_positives == 20
    assert [v.size for v in cfg.data.views] == [None, None, 38, 38, 38, 38]  # 2 global + 4 local at 0.6 × 64
    cfg = recipe_schema("image_ssl")()
    cfg.views = "insloc_robust"
    image_ssl_presets(cfg)
    insloc = cfg.model.insloc
    assert (
        insloc.enabled
        and insloc.saliency_prior
        and insloc.blend == "poisson"
        and cfg.data.masks == "saliency"
    )
    names = [t["name"] for t in cfg.data.transforms]  # InsLoc crops, flips and places: photometric views
    assert names[:2] == ["resize", "center_crop"] and "random_resized_crop" not in names
    assert "random_horizontal_flip" not in names and "color_jitter" in names
    for key, value in (("method", "simclr"), ("views", "copy_paste")):
        cfg = recipe_schema("image_ssl")()
        setattr(cfg, key, value)
        with pytest.raises(ConfigError, match=key):
            image_ssl_presets(cfg)


def test_a_corrupt_image_or_missing_mask_is_counted_and_named(tree, tmp_path) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(tree, root)
    items, _ = image_folder_items(root, "train")
    Path(items[1][0]).write_bytes(b"not an image")  # a corrupt image
    rel = Path(items[2][0]).relative_to(root / "train")
    (root / "masks" / "train" / rel).unlink()  # an image without its mask
    data = ImageDataConfig(root=str(root), size=32, masks="annotations")
    train = image_dataset(data, "train", train=True)
    corrupt, missing = train[1]["replaced"][0], train[2]["replaced"][0]  # each replaced by a stand-in
    assert corrupt.path == items[1][0] and "not a readable image" in corrupt.reason
    assert missing.path == items[2][0] and str(root / "masks" / "train" / rel) in missing.reason
    evaluation = image_dataset(data, "train", train=False)
    with pytest.raises(Exception, match=str(rel.name)):
        evaluation[2]


def test_multicrop_views_train_every_base_and_the_swav_queue_fills(tree) -> None:
    from avssl.runner.image_data import multicrop_views

    data = ImageDataConfig(root=str(tree), size=32)
    data.views = multicrop_views(data)
    batch = next(iter(build_loader(image_dataset(data, "train", train=True), 6, 0)))
    assert [tuple(v["video"].shape[-2:]) for v in batch["views"]] == [(32, 32)] * 2 + [(19, 19)] * 4
    for method, extra in (("moco", {"nn_positives": 3}), ("byol", {}), ("swav", {"swav_queue_size": 12})):
        task = ImageSSL(ImageSSLConfig(method=method, queue_size=12, prototypes=10, **extra))
        out = task(batch)
        out.loss.backward()
        assert torch.isfinite(out.loss)
        if method == "moco":
            assert "loss/nn" in out.logs
        if method == "swav":  # the queue is used once it holds swav_queue_size projections
            assert out.logs["swav/queue"] == 0.0
            task.on_step_end(1, 10)
            task(batch)
            assert task(batch).logs["swav/queue"] == 1.0


def test_roi_pooling_reads_the_feature_map_at_the_box() -> None:
    """RoIAlign (aligned) on a map linear in x and y: the pooled value of a box is the map at the box's
    centre, in feature coordinates (pixel centre − 0.5) — the instance feature comes from where the box is."""
    task = ImageSSL(ImageSSLConfig(queue_size=8))
    ys, xs = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    features = torch.stack([xs, ys])[None].expand(3, 2, 8, 8)  # stride 4 on 32-pixel images
    images = torch.zeros(3, 3, 32, 32)
    boxes = torch.tensor([[4.0, 8.0, 20.0, 16.0], [10.0, 2.0, 30.0, 30.0], [0.0, 0.0, 32.0, 32.0]])
    pooled = task._pool(features, images, boxes)
    centre = torch.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1) / 4 - 0.5
    assert torch.allclose(pooled[:2], centre[:2], atol=1e-5)
    assert torch.allclose(task._pool(features, images, None), features.mean((2, 3)))


@pytest.mark.parametrize("method", ["moco", "byol", "swav"])
def test_insloc_views_train_every_base(tree, method) -> None:
    from avssl.runner.image_data import instance_transforms
    from avssl.transforms.insloc import InsLocConfig

    data = ImageDataConfig(root=str(tree), size=32, masks="annotations")
    data.transforms = instance_transforms(data.transforms)
    batch = next(iter(build_loader(image_dataset(data, "train", train=True), 6, 0)))
    insloc = InsLocConfig(enabled=True, saliency_prior=True, blend="poisson", elastic=0.5, box_jitter=0.1)
    task = ImageSSL(ImageSSLConfig(method=method, queue_size=12, prototypes=10, insloc=insloc))
    out = task(batch)
    out.loss.backward()
    assert torch.isfinite(out.loss) and task.backbone.parameters().__next__().grad is not None
    images, _, _, info = task.views(batch)
    (queries, exact) = info["boxes"]
    assert images[0].shape == batch["views"][0]["video"][:, :, 0].shape
    for k in range(2):  # the online / query boxes are jittered copies of the pasted ones (InsLoc)
        size = (exact[k][:, 2:] - exact[k][:, :2]).repeat(1, 2)
        assert not torch.equal(queries[k], exact[k]) and bool(
            ((queries[k] - exact[k]).abs() <= 0.1 * size).all()
        )
    with pytest.raises(ValueError, match="hard negative"):
        ImageSSL(ImageSSLConfig(insloc=insloc, background=BackgroundAugConfig(mode="bg_swaps")))


def test_insloc_moco_loss_is_infonce_between_the_pasted_instances(tree) -> None:
    """MoCo + InsLoc = InfoNCE (τ) of the query's RoI projection against the key's RoI projection at the
    pasted boxes and the queue, written out here with torchvision's roi_align."""
    from torchvision.ops import roi_align

    from avssl.transforms.insloc import InsLocConfig

    data = ImageDataConfig(root=str(tree), size=32)
    batch = next(iter(build_loader(image_dataset(data, "train", train=True), 6, 0)))
    task = ImageSSL(ImageSSLConfig(queue_size=12, shuffle_bn=False, insloc=InsLocConfig(enabled=True)))
    torch.manual_seed(11)
    images, _, _, info = task.views(batch)
    queue = task.queue.keys.clone()
    torch.manual_seed(11)
    loss = task(batch).loss

    def project(backbone, head, x, boxes):
        features = backbone(x)
        rois = torch.cat([torch.arange(6.0)[:, None], boxes], 1)
        pooled = roi_align(features, rois, 2, features.shape[-1] / x.shape[-1], 2, True).mean((2, 3))
        return torch.nn.functional.normalize(head(pooled), dim=1)

    q = project(task.backbone, task.head, images[0], info["boxes"][0][0])
    k = project(task.key_backbone, task.key_head, images[1], info["boxes"][1][1]).detach()
    expected = 0.0
    for i in range(6):
        pos = torch.exp(q[i] @ k[i] / 0.2)
        expected = expected - torch.log(pos / (pos + torch.exp(queue @ q[i] / 0.2).sum())) / 6
    assert torch.allclose(loss, expected, atol=1e-5)
