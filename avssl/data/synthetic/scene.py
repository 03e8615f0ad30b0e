"""Synthetic audio-visual scenes with exact ground truth.

A scene is a textured background with a few textured objects of K classes moving over it. Each class has
its own shape, colour texture and sound (a harmonic tone with a class-specific fundamental, spectral tilt
and amplitude-modulation rate, so classes are separable from audio alone). Some objects sound, others are
silent distractors: localizing the sounding one needs the audio. Objects are placed uniformly over the
frame, so a centre prior is a weak baseline. Ground truth per frame: boxes and masks of sounding objects.
For binaural audio each source is panned by its x position with interaural level and time differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# the synthetic classes, named after VGG-Sound classes (the layouts write these names)
CLASS_NAMES = (
    "dog barking",
    "bee, wasp, etc. buzzing",
    "playing acoustic guitar",
    "car engine knocking",
    "bird chirping, tweeting",
    "church bell ringing",
    "baby laughter",
    "lions roaring",
)
SHAPES = ("disc", "square", "triangle", "diamond", "ring", "cross")
_PALETTE = np.array(
    [
        [230, 60, 50],
        [50, 170, 230],
        [240, 200, 40],
        [90, 200, 90],
        [200, 90, 220],
        [250, 140, 40],
        [40, 220, 200],
        [240, 240, 240],
        [130, 90, 60],
        [120, 120, 250],
    ],
    dtype=np.float32,
)
_MAX_ITD_S = 0.0007  # ~ the largest interaural time difference of a human head


@dataclass(frozen=True)
class SceneSpec:
    """Scene size, length and population. Sizes are fractions of the frame's shorter side."""

    width: int = 224
    height: int = 224
    duration_s: float = 4.0
    num_classes: int = 5
    num_sounding: tuple[int, int] = (1, 1)
    num_silent: tuple[int, int] = (0, 1)
    size_range: tuple[float, float] = (0.25, 0.4)
    speed: float = 0.15  # frame fractions per second
    moving: bool = True


@dataclass
class SceneObject:
    """One object: class, whether it sounds, size (px), start centre (px) and velocity (px/s)."""

    cls: int
    sounding: bool
    size: float
    centre: np.ndarray
    velocity: np.ndarray
    loudness: float = 1.0


@dataclass
class Scene:
    spec: SceneSpec
    objects: list[SceneObject]
    background: np.ndarray  # (H, W, 3) float32
    seed: int = 0
    labels: list[int] = field(default_factory=list)


def class_sound(
    cls: int, num_samples: int, sample_rate: int, phase: float = 0.0, pitch: float = 1.0
) -> np.ndarray:
    """The sound of class `cls`: harmonics of f0 = 180·1.45^cls·pitch Hz with a class-specific spectral
    tilt, amplitude-modulated at (2 + 1.5·cls) Hz. Peak about 0.5. `pitch` (≈ 0.88–1.13 in scenes) keeps
    classes apart (their fundamentals are 1.45× apart)."""
    t = np.arange(num_samples) / sample_rate
    f0 = 180.0 * 1.45**cls * pitch
    tilt = 0.35 + 0.12 * (cls % 4)
    wave = np.zeros(num_samples)
    for h in range(1, 6):
        if f0 * h < sample_rate / 2 - 200:
            wave += tilt ** (h - 1) * np.sin(2 * np.pi * f0 * h * t + phase * h)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * (2.0 + 1.5 * cls) * t + phase)
    wave *= envelope
    return (0.5 * wave / max(np.abs(wave).max(), 1e-6)).astype(np.float32)


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth random background: low-frequency noise plus a gradient, in muted colours."""
    coarse = rng.uniform(0, 1, size=(height // 16 + 2, width // 16 + 2, 3))
    ys = np.linspace(0, coarse.shape[0] - 1.001, height)
    xs = np.linspace(0, coarse.shape[1] - 1.001, width)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    c = coarse
    smooth = (
        c[y0][:, x0] * (1 - fy) * (1 - fx)
        + c[y0 + 1][:, x0] * fy * (1 - fx)
        + c[y0][:, x0 + 1] * (1 - fy) * fx
        + c[y0 + 1][:, x0 + 1] * fy * fx
    )
    base = rng.uniform(60, 140, size=3)
    grain = rng.normal(0, 6, size=(height, width, 1))
    return np.clip(base * 0.6 + smooth * 70 + grain, 0, 255).astype(np.float32)


def make_scene(spec: SceneSpec, seed: int) -> Scene:
    """Draw a scene: objects of distinct classes, uniform positions, random directions."""
    rng = np.random.default_rng(seed)
    n_sound = int(rng.integers(spec.num_sounding[0], spec.num_sounding[1] + 1))
    n_silent = int(rng.integers(spec.num_silent[0], spec.num_silent[1] + 1))
    n_total = min(n_sound + n_silent, spec.num_classes)
    classes = rng.permutation(spec.num_classes)[:n_total]
    short = min(spec.width, spec.height)
    objects = []
    for i, cls in enumerate(classes):
        size = float(rng.uniform(*spec.size_range) * short)
        margin = size / 2
        centre = np.array(
            [rng.uniform(margin, spec.width - margin), rng.uniform(margin, spec.height - margin)]
        )
        angle = rng.uniform(0, 2 * np.pi)
        speed = spec.speed * short if spec.moving else 0.0
        velocity = speed * np.array([np.cos(angle), np.sin(angle)])
        objects.append(
            SceneObject(int(cls), i < n_sound, size, centre, velocity, float(rng.uniform(0.7, 1.0)))
        )
    return Scene(
        spec, objects, _texture(rng, spec.height, spec.width), seed, [int(c) for c in classes[:n_sound]]
    )


def object_centre(obj: SceneObject, spec: SceneSpec, time_s: float) -> np.ndarray:
    """Centre (x, y) in pixels at `time_s`: linear motion reflected at the frame borders."""
    lo = np.array([obj.size / 2, obj.size / 2])
    hi = np.array([spec.width - obj.size / 2, spec.height - obj.size / 2])
    pos = obj.centre + obj.velocity * time_s - lo
    span = np.maximum(hi - lo, 1e-6)
    pos = np.mod(pos, 2 * span)
    pos = np.where(pos > span, 2 * span - pos, pos)
    return pos + lo


def _shape_mask(shape: str, xx: np.ndarray, yy: np.ndarray, radius: float) -> np.ndarray:
    """Boolean mask of a shape centred at 0 on offset grids xx, yy (pixels)."""
    ax, ay = np.abs(xx), np.abs(yy)
    if shape == "disc":
        return xx**2 + yy**2 <= radius**2
    if shape == "square":
        return (ax <= radius * 0.85) & (ay <= radius * 0.85)
    if shape == "triangle":
        return (yy <= radius * 0.8) & (yy >= -radius) & (ax <= (yy + radius) * 0.6)
    if shape == "diamond":
        return ax + ay <= radius
    if shape == "ring":
        r2 = xx**2 + yy**2
        return (r2 <= radius**2) & (r2 >= (0.5 * radius) ** 2)
    return ((ax <= radius * 0.3) & (ay <= radius)) | ((ay <= radius * 0.3) & (ax <= radius))


def object_mask(obj: SceneObject, spec: SceneSpec, time_s: float) -> np.ndarray:
    """Boolean (H, W) mask of the object at `time_s`."""
    cx, cy = object_centre(obj, spec, time_s)
    xx = np.arange(spec.width)[None, :] + 0.5 - cx
    yy = np.arange(spec.height)[:, None] + 0.5 - cy
    return _shape_mask(SHAPES[obj.cls % len(SHAPES)], xx, yy, obj.size / 2)


def mask_box(mask: np.ndarray) -> list[float] | None:
    """Tight box [x0, y0, x1, y1] (pixels, x1/y1 exclusive) of a boolean mask, or None when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def render_layers(scene: Scene, time_s: float) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 (H, W, 3) at `time_s` and the owner map (H, W) int16: the index of the object each pixel
    shows (later objects occlude earlier ones), −1 for the background."""
    spec = scene.spec
    frame = scene.background.astype(np.float32, copy=True)
    owner = np.full((spec.height, spec.width), -1, dtype=np.int16)
    yy, xx = np.mgrid[0 : spec.height, 0 : spec.width]
    for i, obj in enumerate(scene.objects):
        mask = object_mask(obj, spec, time_s)
        colour = _PALETTE[obj.cls % len(_PALETTE)]
        stripes = 0.75 + 0.25 * np.sign(np.sin((xx + yy * (obj.cls % 3 - 1)) * (0.25 + 0.05 * obj.cls)))
        frame[mask] = colour * stripes[mask][:, None]
        owner[mask] = i
    return frame.clip(0, 255).astype(np.uint8), owner


def render_frame(scene: Scene, time_s: float) -> tuple[np.ndarray, np.ndarray, list[list[float]]]:
    """RGB uint8 (H, W, 3) at `time_s`, the mask (H, W) uint8 of the visible pixels of sounding objects
    (later objects occlude earlier ones), and one tight box per visible sounding object."""
    spec = scene.spec
    frame, owner = render_layers(scene, time_s)
    sounding = np.zeros((spec.height, spec.width), dtype=np.uint8)
    boxes = []
    for i, obj in enumerate(scene.objects):
        if obj.sounding:
            visible = owner == i
            sounding[visible] = 1
            box = mask_box(visible)
            if box is not None:
                boxes.append(box)
    return frame, sounding, boxes


def render_audio(
    scene: Scene, sample_rate: int, channels: int = 1, duration_s: float | None = None
) -> np.ndarray:
    """Float32 (channels, samples): the sum of the sounding objects' class sounds plus faint noise.

    channels=2 pans each source by its x position over time: level difference up to ±6 dB and time
    difference up to ±0.7 ms (left ear leads for sources on the left).
    """
    duration_s = scene.spec.duration_s if duration_s is None else duration_s
    n = int(round(duration_s * sample_rate))
    rng = np.random.default_rng(scene.seed + 7919)
    out = rng.normal(0, 0.003, size=(channels, n)).astype(np.float32)
    t = np.arange(n) / sample_rate
    for obj in scene.objects:
        if not obj.sounding:
            continue
        pitch = (0.325 * min(scene.spec.width, scene.spec.height) / obj.size) ** 0.6
        wave = obj.loudness * class_sound(
            obj.cls, n, sample_rate, phase=float(rng.uniform(0, 6.28)), pitch=pitch
        )
        if channels == 1:
            out[0] += wave
            continue
        # pan position in [-1, 1] per sample (interpolated from 20 Hz object positions)
        coarse_t = np.arange(0, duration_s + 0.05, 0.05)
        xs = np.array([object_centre(obj, scene.spec, float(tc))[0] for tc in coarse_t])
        pan = np.interp(t, coarse_t, 2 * xs / scene.spec.width - 1)
        gain_l, gain_r = 10 ** (-3 * pan / 20), 10 ** (3 * pan / 20)
        delay = pan * _MAX_ITD_S * sample_rate / 2  # samples; positive pan (right) delays the left ear
        idx = np.arange(n)
        out[0] += gain_l * np.interp(idx - delay, idx, wave)
        out[1] += gain_r * np.interp(idx + delay, idx, wave)
    peak = np.abs(out).max()
    return out / peak * 0.9 if peak > 0.95 else out
