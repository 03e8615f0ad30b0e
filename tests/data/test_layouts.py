"""Every layout: `avssl synth` → loaders → samples; check-data clean, then names a corrupted file; boxes and
masks come back where the synthetic ground truth and the recorded transforms say."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from avssl.cli import main
from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipDataset, ClipSpec
from avssl.data.synthetic.layouts import CLASS_NAMES, SYNTH_LAYOUTS, SynthSpec, write_synthetic
from avssl.data.synthetic.scene import make_scene, render_frame
from avssl.transforms import build_transforms
from avssl.transforms.functional.geometry import apply_geometry_to_map, geometry_forward_points

SPEC = SynthSpec(n=8, seed=11, size=96, duration_s=2.0, fps=10.0, num_classes=4)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    for layout in SYNTH_LAYOUTS:
        write_synthetic(layout, root / layout, SPEC)
    return root


def _gt(root):
    return json.loads((root / "synth_gt.json").read_text())


@pytest.mark.parametrize("layout", SYNTH_LAYOUTS)
def test_synth_then_check_data_is_clean(synth_root, layout, capsys):
    assert main(["check-data", str(synth_root / layout), "--layout", layout, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["items"] == SPEC.n


def _first_media(root, layout):
    patterns = {
        "folder": "*/*.mp4",
        "vggsound": "video/*.mp4",
        "flickr": "audio/*.wav",
        "vggss": "frames/*.jpg",
        "avsbench-s4": "s4_data/gt_masks/*/*/*/*_1.png",
        "avsbench-ms3": "ms3_data/visual_frames/*/*_3.png",
        "fairplay": "videos/*.mp4",
        "pennaction": "frames/*/000002.jpg",
        "otb": "*/img/0002.jpg",
    }
    return sorted(root.glob(patterns[layout]))[0]


@pytest.mark.parametrize("layout", SYNTH_LAYOUTS)
def test_check_data_names_the_corrupted_file(synth_root, tmp_path, layout, capsys):
    copy = tmp_path / layout
    shutil.copytree(synth_root / layout, copy)
    victim = _first_media(copy, layout)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # truncated
    assert main(["check-data", str(copy), "--layout", layout]) == 1
    out = capsys.readouterr().out
    assert str(victim) in out and "1 problems" in out


def test_check_data_counts_missing_files(synth_root, tmp_path, capsys):
    copy = tmp_path / "vgg"
    shutil.copytree(synth_root / "vggsound", copy)
    victim = sorted((copy / "video").glob("*.mp4"))[2]
    victim.unlink()
    assert main(["check-data", str(copy), "--layout", "vggsound", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"missing file": 1} and victim.stem in report["problems"]["missing file"][0]


@pytest.mark.parametrize("layout", ["folder", "vggsound", "fairplay"])
def test_video_layouts_ids_labels_and_frames_match_ground_truth(synth_root, layout):
    root = synth_root / layout
    gt = _gt(root)
    index = load_index(layout, root)
    assert sorted(i.id for i in index.items) == sorted(gt["items"])
    channels = 2 if layout == "fairplay" else 1
    ds = ClipDataset(
        index.items,
        ClipSpec(duration_s=1.0, fps=4, size=None, channels=channels, sampler="random"),
        mode="eval",
        seed=2,
    )
    for k in range(3):
        item, sample = index.items[k], ds[k]
        truth = gt["items"][item.id]
        if index.classes:
            assert index.classes[item.label].split(",")[0].replace(" ", "_") == CLASS_NAMES[
                truth["label"]
            ].split(",")[0].replace(" ", "_")
        assert sample["audio"].shape == (channels, 16000)
        # the decoded frame at its presentation time equals the rendered scene at that time
        scene = make_scene(_scene_spec_for(gt, layout), SPEC.seed * 100_003 + _item_number(gt, item.id))
        t = sample["meta"]["start_s"]
        rendered = render_frame(scene, round(t * SPEC.fps) / SPEC.fps)[0].astype(np.float32)
        decoded = sample["video"][0].permute(1, 2, 0).numpy().astype(np.float32)
        psnr = 10 * np.log10(255**2 / np.mean((rendered - decoded) ** 2))
        assert psnr > 24, f"{layout} {item.id}: frame at {t:.2f} s does not match the scene (PSNR {psnr:.1f})"


def _item_number(gt, item_id):
    return list(gt["items"]).index(item_id)


def _scene_spec_for(gt, layout):
    from avssl.data.synthetic.layouts import _scene_spec

    extra = {"num_sounding": (1, 1), "num_silent": (0, 1)} if layout == "fairplay" else {}
    return _scene_spec(SynthSpec(**gt["spec"]), **extra)


def _iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


def _box_iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


@pytest.mark.parametrize("layout", ["flickr", "vggss"])
def test_still_layout_boxes_follow_the_transforms(synth_root, layout):
    root = synth_root / layout
    gt = _gt(root)
    index = load_index(layout, root)
    pipeline = build_transforms(
        [
            {"name": "random_resized_crop", "size": 64, "scale": [0.4, 1.0]},
            {"name": "random_horizontal_flip", "p": 0.5},
        ]
    )
    ds = ClipDataset(
        index.items,
        ClipSpec(duration_s=1.0, size=(128, 128), sampler="centre"),
        transform=pipeline,
        mode="eval",
    )
    checked = 0
    for k, item in enumerate(index.items[:6]):
        sample = ds[k]
        truth = gt["items"][item.id]
        raw = truth["boxes_256"] if layout == "flickr" else truth["boxes"]
        scale = 128 / 256 if layout == "flickr" else 128
        assert len(raw) == len(sample["boxes"])
        for box, got in zip(raw, sample["boxes"].tolist()):
            corners = (
                torch.tensor([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]]) * scale
            )
            moved = geometry_forward_points(sample["geometry"], corners)
            expected = [
                *moved.min(0).values.clamp(0, 64).tolist(),
                *moved.max(0).values.clamp(0, 64).tolist(),
            ]
            if expected[2] - expected[0] < 1 or expected[3] - expected[1] < 1:
                continue  # cropped away
            assert _box_iou(got, expected) >= 0.99, (got, expected)
            checked += 1
        assert sample["video"].shape == (1, 3, 64, 64)
    assert checked >= 4


def _avs_truth_masks(gt, layout, item_id):
    """Re-render the scene the synth wrote: the ground-truth masks of the 5 frames (not read from files)."""
    from avssl.data.synthetic.layouts import _scene_spec

    counts = ((2, 2), (1, 1)) if layout == "avsbench-ms3" else ((1, 1), (0, 1))
    spec = _scene_spec(
        SynthSpec(**gt["spec"]),
        width=224,
        height=224,
        duration_s=5.0,
        num_sounding=counts[0],
        num_silent=counts[1],
        speed=0.08,
    )
    scene = make_scene(spec, SPEC.seed * 100_003 + _item_number(gt, item_id))
    return torch.from_numpy(np.stack([render_frame(scene, k + 0.5)[1] for k in range(5)]))


def _replay_on_mask(records, mask):
    for record in records:
        mask = record.op.apply_mask(mask, record.out_size)
    return mask


@pytest.mark.parametrize("layout", ["avsbench-s4", "avsbench-ms3"])
def test_avsbench_masks_follow_the_transforms(synth_root, layout):
    root = synth_root / layout
    gt = _gt(root)
    specs = [
        {"name": "random_resized_crop", "size": 112, "scale": [0.3, 1.0]},
        {"name": "random_horizontal_flip", "p": 0.5},
        {"name": "random_rotation", "max_deg": 10},
    ]
    for split, expected_valid in (("train", 1 if layout == "avsbench-s4" else 5), ("test", 5)):
        index = load_index(layout, root, split)
        assert index.items and all(gt["items"][i.id]["split"] == split for i in index.items)
        ds = ClipDataset(
            index.items, ClipSpec(duration_s=5.0, size=None), transform=build_transforms(specs), mode="eval"
        )
        for k, item in enumerate(index.items):
            sample = ds[k]
            assert sample["audio"].shape == (1, 80000) and sample["video"].shape[:2] == (5, 3)
            assert int(sample["mask_valid"].sum()) == expected_valid
            truth = _avs_truth_masks(gt, layout, item.id)
            assert truth[0].sum() > 50
            moved = _replay_on_mask(sample["geometry"], truth)
            for t in range(expected_valid):
                assert _iou(sample["mask"][t].numpy() > 0, moved[t].numpy() > 0) >= 0.99
            # the frames moved with the masks: the map replay of the truth agrees away from the borders
            smooth = apply_geometry_to_map(sample["geometry"], truth.float(), out_size=(112, 112))
            assert _iou(sample["mask"][0].numpy() > 0, smooth[0].numpy() > 0.5) >= 0.9


def test_synth_cli_controls_distractors_and_object_sizes(tmp_path):
    common = ["synth", "--layout", "vggsound", "--n", "6", "--size", "64", "--duration", "1", "--fps", "2"]
    assert main([*common, "--out", str(tmp_path / "plain"), "--silent", "0", "0"]) == 0
    assert main([*common, "--out", str(tmp_path / "crowded"), "--silent", "1", "1"]) == 0
    assert (
        main([*common, "--out", str(tmp_path / "big"), "--silent", "0", "0", "--object-sizes", "0.6", "0.7"])
        == 0
    )
    assert all(not g["silent"] for g in _gt(tmp_path / "plain")["items"].values())
    assert all(len(g["silent"]) == 1 for g in _gt(tmp_path / "crowded")["items"].values())

    def widest(name):  # per clip, the widest box over its frames (boxes are clipped at the frame's edge)
        items = _gt(tmp_path / name)["items"].values()
        return np.array([max(b[0][2] - b[0][0] for b in g["boxes"]) for g in items])

    # a 0.6–0.7 object spans far more than a 0.25–0.4 one (64 px frames)
    assert np.median(widest("big")) > 36 > 28 > np.max(widest("plain"))
