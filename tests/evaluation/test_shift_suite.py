"""The appearance- and context-shift suite (ImageNet-C-style corruptions; InsLoc-style moved and
out-of-context foregrounds): corruptions are seeded and change the image, chunks give the whole set, the
context variants keep exactly the foreground pixels (resampled) over the right plate, the drops match a naive
per-variant loop, a background reader drops under out_of_context where a foreground reader does not, and
the `shift_robustness` evaluator runs end to end on a tiny annotated image folder."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import pytest
import torch

from avssl.evaluation.probe import probe_metrics
from avssl.evaluation.shift import (
    APPEARANCE,
    CONTEXT,
    CORRUPTIONS,
    SHIFTS,
    iter_shift_variants,
    moved,
    other_class_donors,
    out_of_context,
    paste_foregrounds,
    shift_scores,
    shift_variants,
)
from avssl.transforms.functional.appearance import renormalize
from avssl.transforms.image_backgrounds import background_plates
from tests.evaluation.test_background_suite import one_hot_feature, trap_images


def photos(n: int = 6, size: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalised random-pixel images (every pixel colour unique), disc-shaped foregrounds of varied size and
    place, labels 0, 1, 2, 0, 1, 2…"""
    g = torch.Generator().manual_seed(seed)
    images = renormalize(torch.rand(n, 3, size, size, generator=g))
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    masks = torch.zeros(n, size, size, dtype=torch.uint8)
    for i in range(n):
        cy, cx, r = 6 + 2 * i % 12, 8 + 3 * i % 10, 3 + i % 4
        masks[i] = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).to(torch.uint8)
    return images, masks, torch.arange(n) % 3


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corruptions_are_seeded_and_change_the_image(name) -> None:
    images, _, _ = photos()
    fn = CORRUPTIONS[name]
    out = fn(images, 3, seed=7)
    assert out.shape == images.shape and out.dtype == images.dtype and torch.isfinite(out).all()
    assert torch.equal(out, fn(images, 3, seed=7))  # deterministic per seed
    assert not torch.equal(out, fn(images, 3, seed=8))
    for i in range(images.shape[0]):  # every image changed, each by its own draw
        assert (out[i] - images[i]).abs().mean() > 0.05
    assert torch.equal(fn(images[2:4], 3, seed=7, start=2), out[2:4])  # rows keep their stream
    assert (fn(images, 5, seed=7) - images).abs().mean() > (fn(images, 1, seed=7) - images).abs().mean()
    with pytest.raises(ValueError, match="severity"):
        fn(images, 6)


def test_chunked_variants_equal_the_whole_set() -> None:
    images, masks, labels = photos(7)
    whole = shift_variants(images, masks, labels, seed=3)
    assert list(whole) == list(SHIFTS) and SHIFTS[0] == "original"
    parts: dict = {}
    for name, x in iter_shift_variants(images, masks, labels, seed=3, chunk=3):
        assert x.shape[0] <= 3
        parts.setdefault(name, []).append(x)
    for name in SHIFTS:
        assert torch.equal(torch.cat(parts[name]), whole[name]), name
    assert torch.equal(whole["moved"], moved(images, masks, seed=3)[0])
    assert torch.equal(whole["out_of_context"], out_of_context(images, masks, labels, seed=3)[0])


def test_pasted_box_is_the_resampled_source_box() -> None:
    """A rectangular foreground: its whole box is pasted, so the pasted mask's box is the placement and a
    naive per-pixel loop (exact nearest-neighbour rows ⌊(r + ½)·h₀ / h⌋) gives every pasted pixel."""
    images, _, _ = photos(6)
    masks = torch.zeros(6, 24, 24, dtype=torch.uint8)
    for i in range(6):
        masks[i, 3 + i : 10 + 2 * i, 2 + i : 9 + i] = 1
    plates = background_plates(images, masks)
    out, pasted = paste_foregrounds(images, masks, plates, seed=5)
    assert pasted.dtype == masks.dtype
    for i in range(6):
        ys, xs = masks[i].nonzero(as_tuple=True)
        y0, x0, h0, w0 = (
            int(ys.min()),
            int(xs.min()),
            int(ys.max()) + 1 - int(ys.min()),
            int(xs.max()) + 1 - int(xs.min()),
        )
        py, px = pasted[i].nonzero(as_tuple=True)
        top, left, h, w = (
            int(py.min()),
            int(px.min()),
            int(py.max()) + 1 - int(py.min()),
            int(px.max()) + 1 - int(px.min()),
        )
        assert int(pasted[i].sum()) == h * w  # a full rectangle
        for r in range(h):
            for c in range(w):
                sy = y0 + int((Fraction(2 * r + 1, 2) * h0) // h)
                sx = x0 + int((Fraction(2 * c + 1, 2) * w0) // w)
                assert torch.equal(out[i, :, top + r, left + c], images[i, :, sy, sx])
        outside = pasted[i] == 0
        assert torch.equal(out[i][:, outside], plates[i][:, outside])
    assert any(not torch.equal(pasted[i], masks[i]) for i in range(6))  # moved somewhere else


@pytest.mark.parametrize("variant", CONTEXT)
def test_context_variants_keep_exactly_the_foreground_pixels(variant) -> None:
    images, masks, labels = photos(9)
    if variant == "moved":
        out, pasted = moved(images, masks, seed=4)
        plates = background_plates(images, masks)
    else:
        out, pasted = out_of_context(images, masks, labels, seed=4)
        donors = other_class_donors(labels, seed=4)
        assert (labels[donors] != labels).all()
        plates = background_plates(images, masks)[donors]
    for i in range(images.shape[0]):
        source = {tuple(p.tolist()) for p in images[i][:, masks[i] > 0].T}
        inside = pasted[i] > 0
        assert inside.any()
        assert all(tuple(p.tolist()) in source for p in out[i][:, inside].T)  # only the source foreground
        assert torch.equal(out[i][:, ~inside], plates[i][:, ~inside])  # the rest: the plate
        scale = inside.sum() / masks[i].sum()
        assert 0.6**2 / 2 < scale < 1.4**2 * 2  # resampled, at a scale in SCALE_RANGE (with rounding)


def test_drops_match_a_naive_loop() -> None:
    g = torch.Generator().manual_seed(0)
    train_labels, test_labels = torch.arange(40) % 4, torch.arange(20) % 4
    centres = 3 * torch.randn(4, 16, generator=g)
    train = centres[train_labels] + torch.randn(40, 16, generator=g)
    features = {
        name: centres[test_labels] + (1 + k) * torch.randn(20, 16, generator=g)
        for k, name in enumerate(SHIFTS)
    }
    report = shift_scores(train, train_labels, features, test_labels, 4)
    for kind in ("linear", "knn"):
        top1 = {}
        for name in SHIFTS:
            top1[name] = probe_metrics(train, train_labels, features[name], test_labels, 4)[kind]["top1"]
            assert report[kind][name] == pytest.approx(top1[name])
        for group, names in (("appearance", APPEARANCE), ("context", CONTEXT)):
            total = 0.0
            for name in names:
                total += top1[name]
            assert report["drop"][kind][group] == pytest.approx(top1["original"] - total / len(names))
    assert report["drop"]["linear"]["appearance"] > 0  # noisier variants score lower


def test_out_of_context_drops_a_background_reader_not_a_foreground_reader() -> None:
    """The background suite's trap images (object colour in channel 0, background colour in channel 1, both
    the class); position-free readers: the object's channel-0 maximum, the border's channel-1 median."""
    train, _, train_labels = trap_images(seed=0)
    test, test_masks, test_labels = trap_images(seed=1)
    variants = shift_variants(test, test_masks, test_labels, seed=2)
    variants = {name: variants[name] for name in ("original", *CONTEXT)}

    def foreground_reader(x):
        return one_hot_feature(x[:, 0].amax((1, 2)), 4)

    def background_reader(x):
        border = torch.cat([x[:, 1, 0], x[:, 1, -1], x[:, 1, 1:-1, 0], x[:, 1, 1:-1, -1]], 1)
        return one_hot_feature(border.median(1).values, 4)

    reports = {}
    for reader in (foreground_reader, background_reader):
        reports[reader] = shift_scores(
            reader(train), train_labels, {k: reader(v) for k, v in variants.items()}, test_labels, 4
        )
    fg, bg = reports[foreground_reader], reports[background_reader]
    for kind in ("linear", "knn"):
        assert fg[kind] == {"original": 100.0, "moved": 100.0, "out_of_context": 100.0}
        assert bg[kind]["original"] == bg[kind]["moved"] == 100.0 and bg[kind]["out_of_context"] == 0.0
        assert fg["drop"][kind] == {"context": 0.0}
        assert bg["drop"][kind]["context"] == 50.0 > fg["drop"][kind]["context"]


def test_shift_robustness_evaluator_end_to_end(tmp_path) -> None:
    from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder
    from avssl.runner.evaluators import EVALUATORS, image_probe, shift_robustness
    from avssl.runner.image_data import ImageDataConfig
    from avssl.runner.specs import ImageEvalConfig
    from avssl.tasks.image_ssl import ImageSSL, ImageSSLConfig

    torch.manual_seed(0)
    root = write_image_folder(tmp_path, {"train": 8, "val": 6}, spec=ImageSynthSpec(size=32, seed=0))
    cfg = SimpleNamespace(
        data=ImageDataConfig(root=str(root), size=32, num_workers=0),
        eval=ImageEvalConfig(split="val", shift_severity=2),
    )
    task = ImageSSL(ImageSSLConfig(queue_size=16)).train()
    out = EVALUATORS["shift_robustness"](task, cfg, tmp_path)
    assert task.training  # put back in training mode
    report = out["shifts"]
    assert set(report) == {"linear", "knn", "drop", "num_train", "num_test", "masks", "severity"}
    assert list(report["linear"]) == list(SHIFTS) and report["masks"] == "annotations"
    assert report["severity"] == 2 and (report["num_train"], report["num_test"]) == (8, 6)
    for kind in ("linear", "knn"):
        assert set(report["drop"][kind]) == {"appearance", "context"}
        top1 = report[kind]
        mean = sum(top1[n] for n in CONTEXT) / len(CONTEXT)
        assert report["drop"][kind]["context"] == pytest.approx(top1["original"] - mean)
    # the original variant is the held-out set image_probe embeds: same features, same probes
    probe = image_probe(task, cfg, tmp_path)["probe"]
    assert report["linear"]["original"] == probe["linear"]["top1"]
    assert report["knn"]["original"] == probe["knn"]["top1"]
    background = EVALUATORS["background_robustness"](task, cfg, tmp_path)["backgrounds"]
    assert background["knn"]["original"] == probe["knn"]["top1"] and background["masks"] == "annotations"
    cfg.eval.split = None
    assert shift_robustness(task, cfg, tmp_path) is None
