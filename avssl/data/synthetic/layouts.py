"""`avssl synth`: synthetic scenes written in the benchmarks' own on-disk layouts, with exact ground truth.

Every layout is the one the matching loader in `avssl.data.datasets` reads (and the one the benchmark
ships), so every code path is testable offline on real encoded media. Besides the layout's own files,
each dataset gets `synth_gt.json` (per item: classes, sounding objects' boxes per frame time) for tests.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avssl.data.media_writer import VideoEncoding, write_image, write_video, write_wav
from avssl.data.synthetic.action import ACTION_SYNTH_LAYOUTS, ActionSynthSpec, write_action_synthetic
from avssl.data.synthetic.scene import CLASS_NAMES, SceneSpec, make_scene, render_audio, render_frame

# the layouts write_synthetic writes
SYNTH_LAYOUTS = (
    "folder",
    "vggsound",
    "flickr",
    "vggss",
    "avsbench-s4",
    "avsbench-ms3",
    "fairplay",
    "pennaction",
    "otb",
)
# still images, not clips: an ImageFolder tree with masks and boxes; a Pascal VOC tree and a COCO tree (the
# same multi-object scenes); bi-temporal pairs with change masks in the LEVIR-CD layout
IMAGE_SYNTH_LAYOUTS = ("imagefolder", "voc", "coco", "levir-cd")


@dataclass(frozen=True)
class SynthSpec:
    """How many items, how big and how long; `seed` makes the dataset reproducible."""

    n: int = 16
    seed: int = 0
    size: int = 128
    fps: float = 10.0
    duration_s: float = 4.0
    num_classes: int = 4
    sample_rate: int = 16000
    gop: int = 50
    silent: tuple[int, int] | None = None  # silent distractors per video scene (min, max); None: (0, 1)
    sizes: tuple[float, float] | None = None  # video objects' size range (fractions of the shorter side)
    background_p: float = 0.8  # action layouts: P(a train clip shows its class's background family)


def action_spec(spec: SynthSpec) -> ActionSynthSpec:
    """The action-set spec of `avssl synth --layout ucf101|hmdb51|kinetics`: `n` clips in all (at least
    2 per class), `duration_s × fps` frames."""
    return ActionSynthSpec(
        num_classes=spec.num_classes,
        clips_per_class=max(2, spec.n // spec.num_classes),
        size=spec.size,
        frames=max(2, int(round(spec.duration_s * spec.fps))),
        fps=spec.fps,
        background_p=spec.background_p,
        seed=spec.seed,
    )


def _scene_spec(spec: SynthSpec, **changes) -> SceneSpec:
    base = SceneSpec(
        width=spec.size, height=spec.size, duration_s=spec.duration_s, num_classes=spec.num_classes
    )
    if spec.silent is not None:
        base = SceneSpec(**{**base.__dict__, "num_silent": tuple(spec.silent)})
    if spec.sizes is not None:
        base = SceneSpec(**{**base.__dict__, "size_range": tuple(spec.sizes)})
    return SceneSpec(**{**base.__dict__, **changes})


def _ytid(rng: np.random.Generator) -> str:
    """An 11-character YouTube-like id; some start with '-' as real ones do."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    chars = [alphabet[i] for i in rng.integers(0, len(alphabet), size=11)]
    if rng.random() < 0.25:
        chars[0] = "-"
    return "".join(chars)


def _write_scene_video(path: Path, scene, spec: SynthSpec, channels: int = 1) -> dict:
    times = np.arange(int(round(spec.duration_s * spec.fps))) / spec.fps
    rendered = [render_frame(scene, float(t)) for t in times]
    audio = render_audio(scene, 48000, channels)
    write_video(path, (f for f, _, _ in rendered), spec.fps, audio, 48000, VideoEncoding(gop=spec.gop))
    return {"times": [round(float(t), 4) for t in times], "boxes": [b for _, _, b in rendered]}


def _item_gt(scene, extra: dict) -> dict:
    sounding = [o.cls for o in scene.objects if o.sounding]
    silent = [o.cls for o in scene.objects if not o.sounding]
    return {"classes": sounding, "silent": silent, "label": sounding[0], **extra}


def _write_folder(out: Path, spec: SynthSpec) -> dict:
    gt = {}
    for i in range(spec.n):
        scene = make_scene(_scene_spec(spec), spec.seed * 100_003 + i)
        name = CLASS_NAMES[scene.labels[0]].split(",")[0].replace(" ", "_")
        item_id = f"{name}/clip_{i:04d}"
        gt[item_id] = _item_gt(scene, _write_scene_video(out / f"{item_id}.mp4", scene, spec))
    return gt


def _write_vggsound(out: Path, spec: SynthSpec) -> dict:
    rng = np.random.default_rng(spec.seed)
    gt, rows = {}, []
    for i in range(spec.n):
        scene = make_scene(_scene_spec(spec), spec.seed * 100_003 + i)
        ytid, start = _ytid(rng), int(rng.integers(0, 300))
        clip_id = f"{ytid}_{start:06d}"
        split = "test" if i % 4 == 3 else "train"
        rows.append([ytid, start, CLASS_NAMES[scene.labels[0]], split])
        gt[clip_id] = _item_gt(scene, _write_scene_video(out / "video" / f"{clip_id}.mp4", scene, spec))
    with (out / "vggsound.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)  # no header, labels with commas quoted: as released
    return gt


def _still(scene, spec: SynthSpec, out: Path, item_id: str) -> tuple[np.ndarray, list]:
    """Write frames/{id}.jpg (middle frame) and audio/{id}.wav (16 kHz mono); return mask and boxes."""
    frame, mask, boxes = render_frame(scene, spec.duration_s / 2)
    write_image(out / "frames" / f"{item_id}.jpg", frame)
    write_wav(out / "audio" / f"{item_id}.wav", render_audio(scene, spec.sample_rate, 1), spec.sample_rate)
    return mask, boxes


def _jitter_box(box: list[float], rng: np.random.Generator, size: int) -> list[int]:
    b = np.array(box) + rng.normal(0, 2.0, size=4)
    b = np.clip(np.round(b), 0, size)
    return [int(b[0]), int(b[1]), int(max(b[2], b[0] + 2)), int(max(b[3], b[1] + 2))]


# The localization protocol binarises a prediction at its median (half the pixels positive), so a
# cIoU ≥ 0.5 needs a box of about a third of the image or more — as Flickr-SoundNet's boxes mostly are.
# Still test layouts therefore show big sounding objects (and at most one silent distractor).
STILL_SIZES = (0.45, 0.65)


def _write_flickr(out: Path, spec: SynthSpec) -> dict:
    """Flickr-SoundNet test layout: 256×256 images, boxes of 3 annotators in 256-px space."""
    rng = np.random.default_rng(spec.seed)
    gt, rows = {}, []
    (out / "Annotations").mkdir(parents=True, exist_ok=True)
    for i in range(spec.n):
        scene = make_scene(
            _scene_spec(spec, moving=False, width=256, height=256, size_range=STILL_SIZES),
            spec.seed * 100_003 + i,
        )
        item_id = str(10_000_000_000 + int(rng.integers(0, 9_000_000_000)))
        _, boxes = _still(scene, spec, out, item_id)
        annotators = [_jitter_box(boxes[k % len(boxes)], rng, 256) for k in range(3)]
        xml = "".join(
            f"<object><bbox><label>{CLASS_NAMES[scene.labels[0]]}</label><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
            f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bbox></object>"
            for b in annotators
        )
        (out / "Annotations" / f"{item_id}.xml").write_text(f"<annotation>{xml}</annotation>\n")
        rows.append([item_id, int(rng.integers(0, 400))])
        gt[item_id] = _item_gt(scene, {"boxes_256": annotators, "true_boxes_256": boxes})
    with (out / "flickr_test.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)  # two columns, no header, as released
    return gt


def _write_vggss(out: Path, spec: SynthSpec) -> dict:
    """VGG-SS test layout: vggss.json with boxes normalised to [0, 1], frames/ and audio/."""
    rng = np.random.default_rng(spec.seed)
    gt, entries = {}, []
    for i in range(spec.n):
        scene = make_scene(_scene_spec(spec, moving=False, size_range=STILL_SIZES), spec.seed * 100_003 + i)
        item_id = f"{_ytid(rng)}_{int(rng.integers(0, 300)):06d}"
        _, boxes = _still(scene, spec, out, item_id)
        norm = [[round(v / spec.size, 6) for v in b] for b in boxes]
        entries.append({"file": item_id, "class": CLASS_NAMES[scene.labels[0]], "bbox": norm})
        gt[item_id] = _item_gt(scene, {"boxes": norm})
    (out / "vggss.json").write_text(json.dumps(entries))
    (out / "vggss_test.csv").write_text("".join(f"{e['file']}\n" for e in entries))
    return gt


def _avs_frames(
    scene, spec: SynthSpec, frame_dir: Path, mask_dir: Path | None, stems: tuple[str, str], masks_kept: int
) -> list:
    """Five 224×224 PNG frames (one per second, at its middle) and masks of the first `masks_kept`."""
    frame_stem, mask_stem = stems
    boxes = []
    for k in range(5):
        frame, mask, frame_boxes = render_frame(scene, k + 0.5)
        write_image(frame_dir / f"{frame_stem}_{k + 1}.png", frame)
        if mask_dir is not None and k < masks_kept:
            write_image(mask_dir / f"{mask_stem}_{k + 1}.png", mask * 255)
        boxes.append(frame_boxes)
    return boxes


def _write_avsbench(out: Path, spec: SynthSpec, multi: bool) -> dict:
    """AVSBench v1 layout (S4: single source; MS3: multiple sources and silent distractors)."""
    data = out / ("ms3_data" if multi else "s4_data")
    gt, rows = {}, []
    counts = ((2, 2), (1, 1)) if multi else ((1, 1), (0, 1))
    for i in range(spec.n):
        scene_spec = _scene_spec(
            spec,
            width=224,
            height=224,
            duration_s=5.0,
            num_sounding=counts[0],
            num_silent=counts[1],
            speed=0.08,
        )
        scene = make_scene(scene_spec, spec.seed * 100_003 + i)
        split = ("train", "train", "val", "test")[i % 4]
        category = CLASS_NAMES[scene.labels[0]].split(",")[0].replace(" ", "_")
        name = f"{'ms3' if multi else 's4'}_{i:04d}"
        keep = 5 if (multi or split != "train") else 1
        if multi:
            frames = data / "visual_frames" / name
            boxes = _avs_frames(
                scene, spec, frames, data / "gt_masks" / split / name, (f"{name}.mp4", name), keep
            )
            wav = data / "audio_wav" / split / f"{name}.wav"
            rows.append([name, split])
        else:
            rel = Path(split) / category / name
            boxes = _avs_frames(
                scene, spec, data / "visual_frames" / rel, data / "gt_masks" / rel, (name, name), keep
            )
            wav = data / "audio_wav" / split / category / f"{name}.wav"
            rows.append([name, 0, category, split])
        write_wav(wav, render_audio(scene, spec.sample_rate, 1, 5.0), spec.sample_rate)
        gt[name] = _item_gt(scene, {"boxes": boxes, "split": split})
    header = ["video_id", "split"] if multi else ["name", "start_time", "category", "split"]
    with (out / ("ms3_meta_data.csv" if multi else "s4_meta_data.csv")).open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return gt


def _write_fairplay(out: Path, spec: SynthSpec) -> dict:
    """FAIR-Play layout: videos/NNNNNN.mp4, binaural_audios/NNNNNN.wav (2 channels), splits as .txt and .h5."""
    import h5py

    gt, names = {}, []
    for i in range(spec.n):
        scene = make_scene(_scene_spec(spec, num_sounding=(1, 1), num_silent=(0, 1)), spec.seed * 100_003 + i)
        name = f"{i + 1:06d}"
        extra = _write_scene_video(out / "videos" / f"{name}.mp4", scene, spec, channels=2)
        binaural = render_audio(scene, spec.sample_rate, 2)
        write_wav(out / "binaural_audios" / f"{name}.wav", binaural, spec.sample_rate)
        gt[name] = _item_gt(scene, extra)
        names.append(name)
    split_dir = out / "splits" / "split1"
    split_dir.mkdir(parents=True, exist_ok=True)
    parts = {"train": names[: max(1, len(names) * 3 // 4)], "val": names[len(names) * 3 // 4 :]}
    parts["test"] = parts["val"]
    for split, members in parts.items():
        paths = [str((out / "binaural_audios" / f"{m}.wav").resolve()).encode() for m in members]
        with h5py.File(split_dir / f"{split}.h5", "w") as f:
            f.create_dataset("audio", data=np.array(paths, dtype=object), dtype=h5py.string_dtype())
        (split_dir / f"{split}.txt").write_text("".join(f"{m}.wav\n" for m in members))
    return gt


def write_synthetic(layout: str, out: str | Path, spec: SynthSpec = SynthSpec()) -> Path:
    """Write `spec.n` synthetic items in `layout` under `out` (created); returns `out`. The action layouts
    (`ACTION_SYNTH_LAYOUTS`) write the motion-defined action set with its background-swapped test copy."""
    if layout in ACTION_SYNTH_LAYOUTS:  # motion-defined action classes (`avssl.data.synthetic.action`)
        return write_action_synthetic(layout, out, action_spec(spec))
    if layout == "otb":  # sequences with a target box per frame (`avssl.data.synthetic.tracking`)
        from avssl.data.synthetic.tracking import TrackSynthSpec, write_tracking_synthetic

        frames = max(4, int(round(spec.duration_s * spec.fps)))
        return write_tracking_synthetic(
            out, TrackSynthSpec(n=spec.n, size=spec.size, frames=frames, seed=spec.seed)
        )
    if layout == "levir-cd":  # image pairs with change masks (`avssl.data.synthetic.change`)
        from avssl.data.synthetic.change import ChangeSynthSpec, write_change_detection

        n_test, n_val = max(1, spec.n // 5), max(1, spec.n // 10)
        splits = {"train": max(1, spec.n - n_test - n_val), "val": n_val, "test": n_test}
        return write_change_detection(out, splits, ChangeSynthSpec(size=spec.size, seed=spec.seed))
    if (
        layout in IMAGE_SYNTH_LAYOUTS
    ):  # still images with object boxes / masks (`avssl.data.synthetic.images`)
        from avssl.data.synthetic.coco import write_coco
        from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder
        from avssl.data.synthetic.voc import write_voc

        voc = layout in ("voc", "coco")  # multi-object scenes on textured backgrounds (no background trap)
        distractors = spec.silent or ((0, 2) if voc else (0, 0))
        image_spec = ImageSynthSpec(
            size=spec.size,
            num_classes=spec.num_classes,
            objects=(min(spec.num_classes, 1 + distractors[0]), min(spec.num_classes, 1 + distractors[1])),
            size_range=spec.sizes or (0.3, 0.6),
            background="texture" if voc else "stripes",
            background_p=0.0 if voc else spec.background_p,
            seed=spec.seed,
        )
        n_train = max(1, spec.n * 3 // 4)
        splits = {"train": n_train, "val": max(1, spec.n - n_train)}
        if layout == "coco":
            return write_coco(out, splits, spec=image_spec)
        if voc:
            return write_voc(out, splits, spec=image_spec)
        return write_image_folder(out, splits, spec=image_spec)
    if layout == "pennaction":  # frame folders with known phases (`avssl.data.synthetic.phases`)
        from avssl.data.synthetic.phases import ACTIONS, PhaseSynthSpec, write_phase_synthetic

        classes = min(spec.num_classes, len(ACTIONS))
        return write_phase_synthetic(
            out, PhaseSynthSpec(n=spec.n, num_classes=classes, size=spec.size, seed=spec.seed)
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    writers = {
        "folder": _write_folder,
        "vggsound": _write_vggsound,
        "flickr": _write_flickr,
        "vggss": _write_vggss,
        "avsbench-s4": lambda o, s: _write_avsbench(o, s, multi=False),
        "avsbench-ms3": lambda o, s: _write_avsbench(o, s, multi=True),
        "fairplay": _write_fairplay,
    }
    if layout not in writers:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(SYNTH_LAYOUTS)}")
    gt = writers[layout](out, spec)
    meta = {"layout": layout, "spec": spec.__dict__, "class_names": list(CLASS_NAMES[: spec.num_classes])}
    (out / "synth_gt.json").write_text(json.dumps({**meta, "items": gt}))
    return out
