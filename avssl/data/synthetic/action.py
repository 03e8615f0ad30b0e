"""A synthetic action-recognition set whose classes are defined only by motion, with a background trap.

Each clip shows one textured object (a disc or a square with a random two-colour texture) moving over a
static textured background. The class is the object's trajectory (`MOTIONS`): moving left / right / up /
down, circling clockwise / counter-clockwise (on screen), approaching (growing) / receding (shrinking),
bouncing, or standing still. Object texture, colour, shape, size and start position are random in every
class, so nothing but motion tells the classes apart.

The background trap (the scene-bias problem of Li et al., "RESOUND: Towards Action Recognition without
Representation Bias", ECCV 2018; Choi et al., "Why Can't I Dance in the Mall? Learning to Mitigate Scene
Bias in Action Recognition", NeurIPS 2019): in the train split of split 1, a clip of class k is drawn over a
background of class k's own family (a hue and a stripe orientation) with probability `background_p`, else
over a random background; in the test split every background is random. A model that learns the
background scores well on train and poorly on test. A background-swapped copy of the test split (every
test clip's moving foreground composited over another test clip's background, as in the mimetic /
scene-swapped test sets) is written beside it, with per-frame ground-truth foreground masks for every
test clip of both copies.

Layouts (the readers in `avssl.data.datasets.action` read them; `avssl check-data` accepts them):

- `ucf101`: `UCF-101/<Class>/v_<Class>_gXX_c01.avi` (mpeg4 in AVI, as the release), `ucfTrainTestlist/`
  with `classInd.txt`, `trainlist0{1,2,3}.txt`, `testlist0{1,2,3}.txt`; split k tests the groups g with
  (g - 1) mod 4 = k - 1.
- `hmdb51`: `<class>/<name>.avi`, `testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt` (marks 1/2).
- `kinetics`: `train.csv`, `test.csv` (header `label,youtube_id,time_start,time_end,split`),
  `<split>/<label>/<id>_<start:06d>_<end:06d>.mp4` (h264).

Ground truth (`synth_gt.json` at the root, per item id: label, motion, split (split 1), background family
(None = random) and hue, the mask folder) and masks `masks/<item id>/<frame:05d>.png` (0/255, one per
encoded frame, frame k shown at k / fps) for the test clips. The swapped copy is a layout root of its own at
`<out>/background_swapped/` holding split 1's test split only (its other split files list nothing: empty
UCF101 lists and Kinetics train csv, HMDB51 marks 0), its `masks/` and `synth_gt.json` (with
`background_from`: the test clip whose background it shows).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from avssl.data.media_writer import VideoEncoding, write_image, write_video

MOTIONS = (
    "left",
    "right",
    "up",
    "down",
    "circle_cw",
    "circle_ccw",
    "approach",
    "recede",
    "bounce",
    "still",
)
ACTION_SYNTH_LAYOUTS = ("ucf101", "hmdb51", "kinetics")
SWAPPED_DIR = "background_swapped"
SPLIT_GROUPS = 4  # split k (1..3) tests the clips c with c mod 4 = k - 1; c mod 4 = 3 is always train


@dataclass(frozen=True)
class ActionSynthSpec:
    """`clips_per_class` clips of `num_classes` motions (the first of `MOTIONS`), `frames` frames of
    `size` × `size` at `fps`; `background_p`: the probability that a train clip shows its class's
    background family (the trap; 0 = no trap)."""

    num_classes: int = 6
    clips_per_class: int = 4
    size: int = 64
    frames: int = 16
    fps: float = 8.0
    background_p: float = 0.8
    seed: int = 0

    def check(self) -> None:
        if not 2 <= self.num_classes <= len(MOTIONS):
            raise ValueError(
                f"num_classes must be in 2..{len(MOTIONS)} (the motions), got {self.num_classes}"
            )
        if self.clips_per_class < 2:
            raise ValueError(f"clips_per_class must be >= 2 (train and test), got {self.clips_per_class}")
        if not 0.0 <= self.background_p <= 1.0:
            raise ValueError(f"background_p must be in [0, 1], got {self.background_p}")
        if self.size < 16 or self.size % 2 or self.frames < 2 or self.fps <= 0:
            raise ValueError(f"need an even size >= 16, frames >= 2, fps > 0; got {self}")


def class_name(motion: str, layout: str) -> str:
    """UCF101-style `MoveLeft`, HMDB51-style `move_left`, Kinetics-style `move left`."""
    words = ["move", *motion.split("_")] if motion in ("left", "right", "up", "down") else motion.split("_")
    if layout == "ucf101":
        return "".join(w.capitalize() for w in words)
    return ("_" if layout == "hmdb51" else " ").join(words)


def class_motions(layout: str, num_classes: int) -> list[str]:
    """The motions in label order as the layout's reader numbers the classes: UCF101 by classInd (the
    order of `MOTIONS`), HMDB51 and Kinetics by sorted class name."""
    motions = list(MOTIONS[:num_classes])
    return motions if layout == "ucf101" else sorted(motions, key=lambda m: class_name(m, layout))


def in_test_split1(clip: int) -> bool:
    """Whether clip number `clip` (within its class) is in split 1's test split."""
    return clip % SPLIT_GROUPS == 0


# ---------------------------------------------------------------------------------------------- rendering


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    rgb = Image.fromarray(np.array([[[h * 255, s * 255, v * 255]]], np.uint8), "HSV").convert("RGB")
    return np.asarray(rgb, np.float32)[0, 0]


def family_hue(family: int, num_families: int) -> float:
    return family / num_families


@dataclass(frozen=True)
class Background:
    """A static background: stripes of angle `angle` (radians) and period `period` (px) between two shades
    of `hue`, plus low-frequency shading. `family` is the class family it was drawn from (None: random)."""

    hue: float
    angle: float
    period: float
    phase: float
    saturation: float
    family: int | None


def draw_background(rng: np.random.Generator, family: int | None, num_families: int) -> Background:
    if family is None:
        hue, angle = float(rng.uniform()), float(rng.uniform(0, math.pi))
    else:
        hue = (family_hue(family, num_families) + rng.uniform(-0.02, 0.02)) % 1.0
        angle = family * math.pi / num_families + rng.uniform(-0.1, 0.1)
    return Background(
        hue,
        angle,
        float(rng.uniform(6, 12)),
        float(rng.uniform(0, 2 * math.pi)),
        float(rng.uniform(0.45, 0.7)),
        family,
    )


def render_background(bg: Background, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin(
        2 * math.pi * (x * math.cos(bg.angle) + y * math.sin(bg.angle)) / bg.period + bg.phase
    )
    dark, light = _hsv_to_rgb(bg.hue, bg.saturation, 0.35), _hsv_to_rgb(bg.hue, bg.saturation * 0.8, 0.75)
    image = dark + stripes[..., None] * (light - dark)
    return np.clip(image, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Foreground:
    """The moving object: shape, two colours, checker frequency and rotation of its texture (object
    coordinates, so it scales with the object), and its trajectory parameters."""

    shape: str
    colours: tuple[tuple[float, ...], tuple[float, ...]]
    checks: float
    tilt: float
    motion: str
    params: dict


def draw_foreground(rng: np.random.Generator, motion: str) -> Foreground:
    colours = tuple(
        tuple(float(c) for c in _hsv_to_rgb(rng.uniform(), rng.uniform(0.6, 1), rng.uniform(0.5, 1)))
        for _ in range(2)
    )
    radius = float(rng.uniform(0.11, 0.15))
    p: dict = {"radius": radius}
    if motion in ("left", "right", "up", "down"):
        start, travel = float(rng.uniform(0.7, 0.78)), float(rng.uniform(0.4, 0.48))
        p.update(start=start, travel=travel, across=float(rng.uniform(0.3, 0.7)))
    elif motion in ("circle_cw", "circle_ccw"):
        p.update(
            centre=[float(rng.uniform(0.45, 0.55)), float(rng.uniform(0.45, 0.55))],
            orbit=float(rng.uniform(0.22, 0.26)),
            phase=float(rng.uniform(0, 2 * math.pi)),
            turns=float(rng.uniform(0.8, 1.0)),
        )
    elif motion in ("approach", "recede"):
        p.update(
            centre=[float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.4, 0.6))],
            small=float(rng.uniform(0.07, 0.09)),
            large=float(rng.uniform(0.24, 0.28)),
        )
    elif motion == "bounce":
        p.update(
            x=float(rng.uniform(0.3, 0.7)),
            floor=float(rng.uniform(0.75, 0.8)),
            height=float(rng.uniform(0.4, 0.5)),
            bounces=2,
        )
    else:  # still
        p.update(centre=[float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.25, 0.75))])
    return Foreground(
        str(rng.choice(["disc", "square"])),
        colours,
        float(rng.uniform(1.5, 3.0)),
        float(rng.uniform(0, math.pi)),
        motion,
        p,
    )


def trajectory(fg: Foreground, t: float) -> tuple[float, float, float]:
    """(x, y, radius) of the object's centre at time fraction t ∈ [0, 1], in fractions of the frame
    (image coordinates: y grows downwards, so `circle_cw` turns clockwise on screen)."""
    p, m = fg.params, fg.motion
    r = p["radius"]
    if m in ("left", "right", "up", "down"):
        along = p["start"] - p["travel"] * t  # left / up: decreasing coordinate
        if m in ("right", "down"):
            along = 1.0 - along
        return (along, p["across"], r) if m in ("left", "right") else (p["across"], along, r)
    if m in ("circle_cw", "circle_ccw"):
        sign = 1.0 if m == "circle_cw" else -1.0
        angle = p["phase"] + sign * 2 * math.pi * p["turns"] * t
        return p["centre"][0] + p["orbit"] * math.cos(angle), p["centre"][1] + p["orbit"] * math.sin(angle), r
    if m in ("approach", "recede"):
        s = t if m == "approach" else 1.0 - t
        return p["centre"][0], p["centre"][1], p["small"] + (p["large"] - p["small"]) * s
    if m == "bounce":
        height = p["height"] * abs(math.sin(math.pi * p["bounces"] * t))
        return p["x"], p["floor"] - height, r
    return p["centre"][0], p["centre"][1], r


def render_foreground(fg: Foreground, t: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(colour (H, W, 3) float, mask (H, W) bool) of the object at time fraction t."""
    cx, cy, r = (v * size for v in trajectory(fg, t))
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    u, v = (x - cx) / r, (y - cy) / r
    mask = (u * u + v * v <= 1.0) if fg.shape == "disc" else (np.maximum(abs(u), abs(v)) <= 1.0)
    cu = u * math.cos(fg.tilt) - v * math.sin(fg.tilt)
    cv = u * math.sin(fg.tilt) + v * math.cos(fg.tilt)
    checker = (np.floor(cu * fg.checks) + np.floor(cv * fg.checks)) % 2
    a, b = (np.array(c, np.float32) for c in fg.colours)
    colour = a + checker[..., None] * (b - a)
    return colour, mask


def paint_at(image: np.ndarray, fg: Foreground, centre, size: int) -> np.ndarray:
    """`image` (H, W, 3) float with the object drawn over it, its centre at `centre` (x, y fractions of the
    frame) whatever its trajectory (the phase and tracking sets move objects along their own paths)."""
    at = dataclasses.replace(fg, params={**fg.params, "centre": [float(centre[0]), float(centre[1])]})
    colour, mask = render_foreground(at, 0.0, size)
    return np.where(mask[..., None], colour, image)


def render_clip(
    fg: Foreground, bg: Background, size: int, frames: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames (H, W, 3) uint8 and masks (T, H, W) bool of the object over the background."""
    background = render_background(bg, size).astype(np.float32)
    out, masks = [], []
    for k in range(frames):
        colour, mask = render_foreground(fg, k / (frames - 1), size)
        out.append(np.where(mask[..., None], colour, background).astype(np.uint8))
        masks.append(mask)
    return out, np.stack(masks)


# ------------------------------------------------------------------------------------------------ writing


def _ytid(rng: np.random.Generator) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=11))


@dataclass
class _Clip:
    label: int
    number: int  # within its class
    fg: Foreground
    bg: Background
    rel: str  # video path relative to the layout root
    item_id: str  # the id the layout's reader gives it
    row: list | None = None  # kinetics csv row


def _encoding(layout: str, spec: ActionSynthSpec) -> VideoEncoding:
    gop = max(1, int(round(spec.fps)))
    if layout == "kinetics":
        return VideoEncoding(gop=gop, bframes=0, crf=18)
    # mpeg4 part 2 in AVI as UCF101 / HMDB51 ship (Xvid / DivX), at a rate that keeps the small frames clean
    return VideoEncoding(
        codec="mpeg4", gop=gop, bframes=0, video_bitrate=int(2000 * spec.size * spec.size / 64)
    )


def _plan(layout: str, spec: ActionSynthSpec) -> list[_Clip]:
    """Every clip's class, foreground, background (the trap on split 1's train clips) and path."""
    rng = np.random.default_rng([spec.seed, 0xAC7])
    clips = []
    for label in range(spec.num_classes):
        motion = class_motions(layout, spec.num_classes)[label]
        name = class_name(motion, layout)
        for number in range(spec.clips_per_class):
            fg = draw_foreground(rng, motion)
            trapped = not in_test_split1(number) and rng.uniform() < spec.background_p
            bg = draw_background(rng, label if trapped else None, spec.num_classes)
            if layout == "ucf101":
                rel = f"UCF-101/{name}/v_{name}_g{number + 1:02d}_c01.avi"
                item_id = f"{name}/v_{name}_g{number + 1:02d}_c01"
                row = None
            elif layout == "hmdb51":
                stem = f"synthetic_{name}_f_cm_np1_fr_med_{number}"
                rel, item_id, row = f"{name}/{stem}.avi", f"{name}/{stem}", None
            else:
                split = "test" if in_test_split1(number) else "train"
                start = int(rng.integers(0, 300))
                end = start + max(1, int(round(spec.frames / spec.fps)))
                stem = f"{_ytid(rng)}_{start:06d}_{end:06d}"
                rel, item_id, row = f"{split}/{name}/{stem}.mp4", stem, [name, stem[:11], start, end, split]
            clips.append(_Clip(label, number, fg, bg, rel, item_id, row))
    return clips


def _write_split_files(
    out: Path, layout: str, spec: ActionSynthSpec, clips: list[_Clip], test_only: bool
) -> None:
    """The layout's split files for `clips`. The swapped copy (`test_only`) lists split 1's test clips
    only: its other split files are empty (UCF101, Kinetics) or mark every clip 0 (HMDB51)."""
    names = [class_name(m, layout) for m in class_motions(layout, spec.num_classes)]

    def listed(split: int) -> bool:
        return not test_only or split == 1

    if layout == "ucf101":
        lists = out / "ucfTrainTestlist"
        lists.mkdir(parents=True, exist_ok=True)
        (lists / "classInd.txt").write_bytes("".join(f"{k} {n}\r\n" for k, n in enumerate(names, 1)).encode())
        for split in (1, 2, 3):
            test = [c for c in clips if c.number % SPLIT_GROUPS == split - 1 and listed(split)]
            train = [c for c in clips if c.number % SPLIT_GROUPS != split - 1 and not test_only]
            rel = [c.rel.split("/", 1)[1] for c in test]
            (lists / f"testlist{split:02d}.txt").write_bytes("".join(f"{r}\r\n" for r in rel).encode())
            lines = "".join(f"{c.rel.split('/', 1)[1]} {c.label + 1}\r\n" for c in train)
            (lists / f"trainlist{split:02d}.txt").write_bytes(lines.encode())
    elif layout == "hmdb51":
        lists = out / "testTrainMulti_7030_splits"
        lists.mkdir(parents=True, exist_ok=True)
        for label, name in enumerate(names):
            mine = [c for c in clips if c.label == label]
            for split in (1, 2, 3):
                marks = [
                    ("2" if listed(split) else "0") if c.number % SPLIT_GROUPS == split - 1 else "1"
                    for c in mine
                ]
                marks = [("0" if m == "1" and test_only else m) for m in marks]
                text = "".join(f"{Path(c.rel).name} {m} \n" for c, m in zip(mine, marks))
                (lists / f"{name}_test_split{split}.txt").write_text(text)
    else:
        header = ["label", "youtube_id", "time_start", "time_end", "split"]
        for split in ("train", "test"):
            rows = [c.row for c in clips if c.row[4] == split and not (test_only and split == "train")]
            with (out / f"{split}.csv").open("w", newline="") as f:
                csv.writer(f).writerows([header, *rows])


def _write_clip(
    out: Path, clip: _Clip, bg: Background, layout: str, spec: ActionSynthSpec, masks: bool
) -> dict:
    frames, mask = render_clip(clip.fg, bg, spec.size, spec.frames)
    write_video(out / clip.rel, frames, spec.fps, encoding=_encoding(layout, spec))
    entry = {
        "label": clip.label,
        "motion": clip.fg.motion,
        "split": "test" if in_test_split1(clip.number) else "train",
        "path": clip.rel,
        "background": {"family": bg.family, "hue": round(bg.hue, 5), "angle": round(bg.angle, 5)},
        "foreground": asdict(clip.fg),
        "frames": spec.frames,
        "masks": None,
    }
    if masks:
        folder = Path("masks") / clip.item_id
        for k, m in enumerate(mask):
            write_image(out / folder / f"{k:05d}.png", m.astype(np.uint8) * 255)
        entry["masks"] = folder.as_posix()
    return entry


def write_action_synthetic(layout: str, out: str | Path, spec: ActionSynthSpec = ActionSynthSpec()) -> Path:
    """Write the synthetic action set in `layout` (one of `ACTION_SYNTH_LAYOUTS`) under `out` and its
    background-swapped test copy under `out/background_swapped`; returns `out`."""
    if layout not in ACTION_SYNTH_LAYOUTS:
        raise ValueError(f"unknown action layout {layout!r}; choose one of {', '.join(ACTION_SYNTH_LAYOUTS)}")
    spec.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clips = _plan(layout, spec)
    gt = {c.item_id: _write_clip(out, c, c.bg, layout, spec, in_test_split1(c.number)) for c in clips}
    _write_split_files(out, layout, spec, clips, test_only=False)
    class_names = [class_name(m, layout) for m in class_motions(layout, spec.num_classes)]
    meta = {
        "layout": layout,
        "spec": asdict(spec),
        "class_names": class_names,
        "motions": class_motions(layout, spec.num_classes),
    }
    (out / "synth_gt.json").write_text(json.dumps({**meta, "items": gt}, indent=1))
    # the swapped copy: each test clip's foreground over another test clip's background (a derangement
    # that prefers a clip of another class)
    test = [c for c in clips if in_test_split1(c.number)]
    rng = np.random.default_rng([spec.seed, 0x5A4])
    donors = _derangement(test, rng)
    swapped_root = out / SWAPPED_DIR
    swapped = {}
    for clip, donor in zip(test, donors):
        entry = _write_clip(swapped_root, clip, donor.bg, layout, spec, masks=True)
        entry["background_from"] = donor.item_id
        swapped[clip.item_id] = entry
    _write_split_files(swapped_root, layout, spec, test, test_only=True)
    (swapped_root / "synth_gt.json").write_text(
        json.dumps({**meta, "swapped": True, "items": swapped}, indent=1)
    )
    return out


def _derangement(clips: list[_Clip], rng: np.random.Generator) -> list[_Clip]:
    """A permutation of `clips` with no clip mapped to itself, each preferring a clip of another class."""
    n = len(clips)
    for _ in range(100):
        order = rng.permutation(n)
        if all(clips[k].label != clips[order[k]].label for k in range(n)):
            return [clips[k] for k in order]
    shift = max(1, n // 2)  # clips are ordered by class: a half shift crosses classes where possible
    return [clips[(k + shift) % n] for k in range(n)]


def read_masks(root: str | Path, item_id: str) -> np.ndarray:
    """The ground-truth foreground masks (T, H, W) bool of a test clip of a synthetic action set."""
    folder = Path(root) / "masks" / item_id
    files = sorted(folder.glob("*.png"))
    if not files:
        raise FileNotFoundError(f"{folder}: no masks (only test clips have masks)")
    return np.stack([np.asarray(Image.open(f)) > 127 for f in files])
