"""A small real-media check set: real photographs and real recorded sounds, composited into scenes.

    .venv/bin/python tools/make_realmedia.py --out data/realmedia [--n-train 240 --n-test 200 --n-s4 160]

What it is — say it plainly: *composited real media*. Every pixel comes from a real photograph and every
sound from a real recording, but the scenes are made here: a cut-out photograph of a sounding object (a
dog, a cow, …, with an alpha channel) is pasted at a random position and scale into a real background
photograph, next to 1–2 cut-out photographs of other objects that stay silent, and the clip's audio is the
sounding object's recording (looped from a random offset, random gain, a faint noise floor). The boxes
come from the paste. The scenes have real texture, real clutter in the backgrounds and real, irregular
object shapes and sounds, which the synthetic generator (`avssl synth`) does not; they do not have real
camera motion, lighting or occlusion, and each object type has one photograph and one recording, so test
scenes differ from training scenes in background photographs, positions, scales and audio offsets, not in
the object's photograph. Training and test backgrounds are disjoint photographs.

Written, in the layouts our loaders read (`avssl.data.datasets`), with our writers
(`avssl.data.media_writer`):

- OUT/vggsound: VGG-Sound-layout training clips (`video/{ytid}_{start}.mp4`, h264 + AAC; `vggsound.csv`);
- OUT/vggsound_heldout (with `--n-heldout N`): N more clips in that layout over the test backgrounds, every
  row in split "test": clips no run has trained on, for held-out retrieval;
- OUT/avsbench-s4 (with `--n-s4 N`): N AVSBench-S4-layout segmentation videos (`s4_meta_data.csv`; per video
  5 png frames of the still scene, 224×224, 5 s of the recording as wav, and the sounding object's mask:
  its cut-out's alpha > 50 % minus what objects pasted above it cover); splits train, train, val, test in
  turn, train over the training backgrounds, val and test over the test ones;
- OUT/flickr: a Flickr-SoundNet-layout test set (`frames/{id}.jpg` 256×256, `audio/{id}.wav` 16 kHz,
  `Annotations/{id}.xml` with three jittered boxes in 256-px space as the annotators' boxes,
  `flickr_test.csv`);
- `realmedia_gt.json` in each: per item the sounding class, the silent objects, the true boxes, the
  background photograph.

The photographs and recordings are in `tools/realmedia_assets/` (1.6 MB, licences and authors in its
LICENSES.md), taken from Debian's `tuxpaint-stamps-default` (GPL-2+: photographs of objects cut out with an
alpha channel, each with a recording of its sound) and `mate-backgrounds` (GPL-2+) and from scikit-learn's
sample images (CC BY 2.0). `--refresh-assets` downloads those packages with apt-get and rewrites the folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from avssl.data.media_writer import VideoEncoding, write_image, write_video, write_wav  # noqa: E402
from avssl.data.synthetic.layouts import _jitter_box, _ytid  # noqa: E402

ASSETS = ROOT / "tools" / "realmedia_assets"
STAMPS = "usr/share/tuxpaint/stamps"
# sounding object types: name -> Tux Paint stamp (photograph + recording of the same thing)
SOUNDING = {
    "dog barking": "animals/mammals/dogs/dog",
    "cattle mooing": "animals/mammals/bovines/cow",
    "rooster crowing": "animals/birds/rooster",
    "frog croaking": "animals/amphibians/frog",
    "elephant trumpeting": "animals/mammals/elephant",
    "lion roaring": "animals/mammals/cats/lion",
    "sheep bleating": "animals/mammals/bovines/sheep",
    "duck quacking": "animals/birds/duck",
}
# silent distractors: photographs only (besides the sounding types' photographs, silent in other scenes)
DISTRACTORS = (
    "animals/mammals/bears/bear",
    "animals/mammals/equines/zebra",
    "animals/mammals/camel/camel",
    "animals/mammals/giraffe",
    "animals/mammals/cats/tiger",
    "animals/birds/penguin",
    "animals/birds/turkey",
    "animals/mammals/rodents/squirrel",
    "animals/marsupials/koala",
    "animals/mammals/hippopotamus",
    "animals/mammals/apes/gorilla",
    "household/kettle",
    "hobbies/camera_35mm",
    "household/toilet",
)
MATE = "usr/share/backgrounds/mate/nature"
BACKGROUNDS_TRAIN = ("Aqua", "Blinds", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops")
BACKGROUNDS_TRAIN += ("TwoWings", "Wood", "flower")
BACKGROUNDS_TEST = ("Dune", "Storm", "YellowFlower", "china")
# box sizes as the synthetic sets' (√(box area) as a fraction of the frame): Flickr-SoundNet's boxes are mostly big
TEST_SIZES = (0.45, 0.65)  # avssl.data.synthetic.layouts.STILL_SIZES
TRAIN_SIZES = (0.4, 0.65)  # as avssl.runner.specs.SYNTHETIC_TRAIN_SIZES
SAMPLE_RATE = 16000


@dataclass
class Assets:
    """Loaded photographs (RGBA uint8), recordings (float32 mono at SAMPLE_RATE) and backgrounds (RGB)."""

    objects: dict[str, np.ndarray]
    sounds: dict[str, np.ndarray]
    backgrounds: dict[str, np.ndarray]


def _stem(stamp: str) -> str:
    return stamp.rsplit("/", 1)[-1]


def load_assets(folder: Path = ASSETS) -> Assets:
    """Read the committed photographs and recordings; one clear error line when the folder is incomplete."""
    import librosa

    stamps = [*SOUNDING.values(), *DISTRACTORS]
    paths = [folder / "objects" / f"{_stem(s)}.png" for s in stamps]
    paths += [folder / "sounds" / f"{_stem(s)}.ogg" for s in SOUNDING.values()]
    paths += [folder / "backgrounds" / f"{b}.jpg" for b in (*BACKGROUNDS_TRAIN, *BACKGROUNDS_TEST)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: real-media asset missing (run with --refresh-assets)")
    objects = {
        _stem(s): np.asarray(Image.open(folder / "objects" / f"{_stem(s)}.png").convert("RGBA"))
        for s in stamps
    }
    sounds = {}
    for name, stamp in SOUNDING.items():
        wave, rate = sf.read(str(folder / "sounds" / f"{_stem(stamp)}.ogg"), always_2d=True, dtype="float32")
        wave = librosa.resample(wave.mean(axis=1), orig_sr=rate, target_sr=SAMPLE_RATE)
        sounds[name] = (wave / max(float(np.abs(wave).max()), 1e-6)).astype(np.float32)
    backgrounds = {
        b: np.asarray(Image.open(folder / "backgrounds" / f"{b}.jpg").convert("RGB"))
        for b in (*BACKGROUNDS_TRAIN, *BACKGROUNDS_TEST)
    }
    return Assets(objects, sounds, backgrounds)


def _background(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random square crop (50–100 % of the shorter side) resized to size × size, randomly mirrored."""
    h, w = image.shape[:2]
    side = int(min(h, w) * rng.uniform(0.5, 1.0))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = Image.fromarray(image[y : y + side, x : x + side]).resize((size, size), Image.BILINEAR)
    out = np.asarray(crop, dtype=np.float32)
    return out[:, ::-1] if rng.random() < 0.5 else out


def _cutout(rgba: np.ndarray, side: float, frame: int, rng: np.random.Generator) -> np.ndarray:
    """The object's photograph trimmed to its alpha, mirrored at random, scaled so that its box has the area
    of a `side`-pixel square (as the synthetic objects' boxes; the longer side at most 95 % of `frame`)."""
    ys, xs = np.nonzero(rgba[..., 3] > 32)
    rgba = rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = rgba.shape[:2]
    scale = min(side / np.sqrt(h * w), 0.95 * frame / max(h, w))
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    out = np.asarray(Image.fromarray(rgba).resize(size, Image.LANCZOS), dtype=np.float32)
    return out[:, ::-1] if rng.random() < 0.5 else out


def _overlap(a: list[int], b: list[int]) -> float:
    """Intersection over the smaller box's area."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / max(smaller, 1)


def _place(cut: np.ndarray, size: int, taken: list[list[int]], rng: np.random.Generator) -> list[int]:
    """A box [x0, y0, x1, y1] fully inside the frame overlapping placed boxes by ≤ 15 % (best of 50 tries)."""
    h, w = cut.shape[:2]
    best, best_overlap = None, 2.0
    for _ in range(50):
        x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
        box = [x, y, x + w, y + h]
        worst = max((_overlap(box, t) for t in taken), default=0.0)
        if worst < best_overlap:
            best, best_overlap = box, worst
        if worst <= 0.15:
            break
    return best


def compose(assets: Assets, size: int, sizes: tuple[float, float], backgrounds, rng) -> dict:
    """One scene: RGB uint8 frame, the sounding class, its box (tight, from the alpha) and the silent ones,
    and each object's visible mask (bool size × size: its alpha > 50 % minus what objects pasted above it
    cover), the sounding object's first."""
    frame = _background(assets.backgrounds[backgrounds[int(rng.integers(len(backgrounds)))]], size, rng)
    names = list(SOUNDING)
    sounding = names[int(rng.integers(len(names)))]
    pool = [SOUNDING[n] for n in names if n != sounding] + list(DISTRACTORS)
    silent = [pool[i] for i in rng.choice(len(pool), size=int(rng.integers(1, 3)), replace=False)]
    stamps = [SOUNDING[sounding], *silent]
    cuts = [_cutout(assets.objects[_stem(s)], rng.uniform(*sizes) * size, size, rng) for s in stamps]
    boxes: list[list[int]] = []
    for cut in cuts:
        boxes.append(_place(cut, size, boxes, rng))
    masks = [np.zeros((size, size), dtype=bool) for _ in cuts]
    for k in rng.permutation(len(cuts)):  # random depth order
        x0, y0, x1, y1 = boxes[k]
        alpha = cuts[k][..., 3:] / 255.0
        frame[y0:y1, x0:x1] = alpha * cuts[k][..., :3] + (1 - alpha) * frame[y0:y1, x0:x1]
        opaque = np.zeros((size, size), dtype=bool)
        opaque[y0:y1, x0:x1] = cuts[k][..., 3] > 127
        for below in masks:
            below &= ~opaque
        masks[k] = opaque
    tight = [_tight_box(cut, box) for cut, box in zip(cuts, boxes)]
    return {
        "frame": np.clip(frame, 0, 255).astype(np.uint8),
        "class": sounding,
        "box": tight[0],
        "silent": [_stem(s) for s in silent],
        "silent_boxes": tight[1:],
        "masks": masks,
    }


def _tight_box(cut: np.ndarray, placed: list[int]) -> list[int]:
    """The box of the pasted object's opaque pixels (alpha > 50 %) in frame pixels."""
    ys, xs = np.nonzero(cut[..., 3] > 127)
    x0, y0 = placed[:2]
    return [int(x0 + xs.min()), int(y0 + ys.min()), int(x0 + xs.max() + 1), int(y0 + ys.max() + 1)]


def clip_audio(wave: np.ndarray, duration_s: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """The recording looped with 0–0.3 s gaps from a random offset, random gain, a faint noise floor."""
    n = int(round(duration_s * rate))
    pieces, total = [], 0
    while total < n + len(wave):
        gap = np.zeros(int(rng.uniform(0, 0.3) * rate), dtype=np.float32)
        pieces += [wave, gap]
        total += len(wave) + len(gap)
    looped = np.concatenate(pieces)
    start = int(rng.integers(0, len(wave)))
    out = looped[start : start + n] * rng.uniform(0.5, 0.9)
    return (out + rng.normal(0, 0.003, size=n)).astype(np.float32)[None]


def write_train(
    out: Path,
    assets: Assets,
    n: int,
    seed: int,
    size: int = 128,
    duration_s: float = 3.0,
    backgrounds: tuple[str, ...] = BACKGROUNDS_TRAIN,
    split: str | None = None,
) -> Path:
    """VGG-Sound-layout clips: a still composited scene (5 fps, h264) with the sounding object's recording.
    `split`: every row's split (None: every fourth clip "test", the others "train")."""
    rng = np.random.default_rng(seed)
    gt, rows = {}, []
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        scene = compose(assets, size, TRAIN_SIZES, backgrounds, rng)
        clip_id = f"{_ytid(rng)}_{int(rng.integers(0, 300)):06d}"
        audio = clip_audio(assets.sounds[scene["class"]], duration_s, SAMPLE_RATE, rng)
        frames = (scene["frame"] for _ in range(int(duration_s * 5)))
        write_video(out / "video" / f"{clip_id}.mp4", frames, 5.0, audio, SAMPLE_RATE, VideoEncoding(gop=50))
        row_split = split or ("test" if i % 4 == 3 else "train")
        rows.append([clip_id[:11], int(clip_id[12:]), scene["class"], row_split])
        gt[clip_id] = {"classes": [scene["class"]], "label": scene["class"], "silent": scene["silent"]}
        gt[clip_id].update(boxes=[scene["box"]], silent_boxes=scene["silent_boxes"])
    with (out / "vggsound.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)  # no header, labels quoted when needed: as released
    _write_gt(out, "vggsound", gt)
    return out


def write_test(out: Path, assets: Assets, n: int, seed: int, duration_s: float = 3.0) -> Path:
    """Flickr-SoundNet test layout: 256×256 jpg, 16 kHz wav, three jittered annotator boxes per image."""
    rng = np.random.default_rng(seed)
    gt, rows = {}, []
    (out / "Annotations").mkdir(parents=True, exist_ok=True)
    for _ in range(n):
        scene = compose(assets, 256, TEST_SIZES, BACKGROUNDS_TEST, rng)
        item_id = str(10_000_000_000 + int(rng.integers(0, 9_000_000_000)))
        write_image(out / "frames" / f"{item_id}.jpg", scene["frame"])
        audio = clip_audio(assets.sounds[scene["class"]], duration_s, SAMPLE_RATE, rng)
        write_wav(out / "audio" / f"{item_id}.wav", audio, SAMPLE_RATE)
        annotators = [_jitter_box(scene["box"], rng, 256) for _ in range(3)]
        xml = "".join(
            f"<object><bbox><label>{scene['class']}</label><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
            f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bbox></object>"
            for b in annotators
        )
        (out / "Annotations" / f"{item_id}.xml").write_text(f"<annotation>{xml}</annotation>\n")
        rows.append([item_id, int(rng.integers(0, 400))])
        gt[item_id] = {"classes": [scene["class"]], "label": scene["class"], "silent": scene["silent"]}
        gt[item_id].update(
            boxes_256=annotators, true_boxes_256=[scene["box"]], silent_boxes_256=scene["silent_boxes"]
        )
    with (out / "flickr_test.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)  # two columns, no header, as released
    _write_gt(out, "flickr", gt)
    return out


def write_s4(out: Path, assets: Assets, n: int, seed: int) -> Path:
    """AVSBench-S4 layout (Zhou et al., "Audio-Visual Segmentation", ECCV 2022; as
    `avssl.data.datasets.avsbench`): per video 5 frames of the still composited scene (224×224 png), the
    sounding object's visible mask (png, 0/255; train: the first frame's only, val/test: all 5) and 5 s of
    its recording; splits train, train, val, test in turn; train over the training backgrounds, val and test
    over the test ones; categories named after the sounding class."""
    rng = np.random.default_rng(seed)
    data, gt, rows = out / "s4_data", {}, []
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        split = ("train", "train", "val", "test")[i % 4]
        backgrounds = BACKGROUNDS_TRAIN if split == "train" else BACKGROUNDS_TEST
        scene = compose(assets, 224, TRAIN_SIZES, backgrounds, rng)
        category = scene["class"].replace(" ", "_")
        name = f"{_ytid(rng)}_{int(rng.integers(0, 10))}"
        rel = Path(split) / category / name
        mask = scene["masks"][0].astype(np.uint8) * 255
        for k in range(1, 6):
            write_image(data / "visual_frames" / rel / f"{name}_{k}.png", scene["frame"])
            if k == 1 or split != "train":
                write_image(data / "gt_masks" / rel / f"{name}_{k}.png", mask)
        audio = clip_audio(assets.sounds[scene["class"]], 5.0, SAMPLE_RATE, rng)
        write_wav(data / "audio_wav" / split / category / f"{name}.wav", audio, SAMPLE_RATE)
        rows.append([name, 0, category, split])
        gt[name] = {"classes": [scene["class"]], "label": scene["class"], "silent": scene["silent"]}
        gt[name].update(boxes=[scene["box"]], silent_boxes=scene["silent_boxes"], split=split)
    with (out / "s4_meta_data.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["name", "start_time", "category", "split"], *rows])
    _write_gt(out, "avsbench-s4", gt)
    return out


def _write_gt(out: Path, layout: str, items: dict) -> None:
    meta = {"layout": layout, "kind": "composited real media", "class_names": list(SOUNDING)}
    (out / "realmedia_gt.json").write_text(json.dumps({**meta, "items": items}))


def build(
    out: str | Path, n_train: int = 240, n_test: int = 200, seed: int = 0, n_heldout: int = 0, n_s4: int = 0
) -> tuple[Path, Path]:
    """Write OUT/vggsound (training clips) and OUT/flickr (test images), with `n_heldout` OUT/vggsound_heldout
    (unseen clips over the test backgrounds, split "test": for retrieval) and with `n_s4` OUT/avsbench-s4
    (segmentation videos, AVSBench-S4 layout); returns the first two folders."""
    out, assets = Path(out), load_assets()
    train = write_train(out / "vggsound", assets, n_train, seed)
    test = write_test(out / "flickr", assets, n_test, seed + 1000)
    if n_heldout:
        heldout = out / "vggsound_heldout"
        write_train(heldout, assets, n_heldout, seed + 2000, backgrounds=BACKGROUNDS_TEST, split="test")
    if n_s4:
        write_s4(out / "avsbench-s4", assets, n_s4, seed + 3000)
    return train, test


def _extract(packages: tuple[str, ...], work: Path) -> Path:
    """apt-get download the Debian packages into `work` and unpack them (no installation) under work/x."""
    import subprocess

    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *packages], cwd=work, check=True)
    for deb in sorted(work.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "x")], check=True)
    return work / "x"


def refresh_assets(work: Path, folder: Path = ASSETS) -> None:
    """Rewrite `folder` from Debian's tuxpaint-stamps-default and mate-backgrounds and scikit-learn's sample
    images: object photographs as they are (≈ 200 px), recordings as they are (ogg), backgrounds resized to
    384 px on the shorter side (jpg, quality 90); the packages' copyright files are copied beside them."""
    import shutil

    import sklearn.datasets

    x = _extract(("tuxpaint-stamps-default", "mate-backgrounds"), work)
    for sub in ("objects", "sounds", "backgrounds", "copyright"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for stamp in (*SOUNDING.values(), *DISTRACTORS):
        shutil.copy(x / STAMPS / f"{stamp}.png", folder / "objects" / f"{_stem(stamp)}.png")
    for stamp in SOUNDING.values():
        shutil.copy(x / STAMPS / f"{stamp}.ogg", folder / "sounds" / f"{_stem(stamp)}.ogg")
    sources = {b: x / MATE / f"{b}.jpg" for b in (*BACKGROUNDS_TRAIN, *BACKGROUNDS_TEST)}
    sample_images = Path(sklearn.datasets.__file__).parent / "images"
    sources.update(china=sample_images / "china.jpg", flower=sample_images / "flower.jpg")
    for name, path in sources.items():
        image = Image.open(path).convert("RGB")
        scale = 384 / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        image.save(folder / "backgrounds" / f"{name}.jpg", quality=90)
    for package in ("tuxpaint-stamps-default", "mate-backgrounds"):
        shutil.copy(x / "usr/share/doc" / package / "copyright", folder / "copyright" / package)
    shutil.copy(sample_images / "README.txt", folder / "copyright" / "scikit-learn-sample-images")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/realmedia", help="writes OUT/vggsound and OUT/flickr")
    parser.add_argument("--n-train", type=int, default=240)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument(
        "--n-heldout", type=int, default=0, help="also OUT/vggsound_heldout: unseen clips for retrieval"
    )
    parser.add_argument(
        "--n-s4", type=int, default=0, help="also OUT/avsbench-s4: segmentation videos (AVSBench-S4 layout)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--refresh-assets",
        metavar="WORKDIR",
        help="first rewrite tools/realmedia_assets from the Debian packages (downloaded into WORKDIR)",
    )
    args = parser.parse_args(argv)
    if args.refresh_assets:
        refresh_assets(Path(args.refresh_assets))
    try:
        train, test = build(args.out, args.n_train, args.n_test, args.seed, args.n_heldout, args.n_s4)
    except FileNotFoundError as err:
        print(f"make_realmedia: {err}", file=sys.stderr)
        return 2
    print(f"training clips (VGG-Sound layout): {train}\ntest images (Flickr-SoundNet layout): {test}")
    if args.n_s4:
        print(f"segmentation videos (AVSBench-S4 layout): {Path(args.out) / 'avsbench-s4'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
