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
    for key, value in (("method", "simclr"), ("views", "insloc")):
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
