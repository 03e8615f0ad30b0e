"""Images, frame folders, masks and image + audio pairs (Flickr-SoundNet, VGG-SS, AVSBench)."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from avssl.data.decoding.audio import read_audio
from avssl.data.decoding.common import (
    Clip,
    MediaError,
    Size,
    Source,
    _check_file,
    num_frames_for,
    output_size,
)


def read_image(path: Source, size: Size = None) -> torch.Tensor:
    """An image file as RGB uint8 (H, W, 3); grayscale, palette and RGBA images are converted to RGB."""
    path = _check_file(path)
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            width, height = output_size(img.width, img.height, size)
            if (width, height) != img.size:
                img = img.resize((width, height), Image.BILINEAR, reducing_gap=None)
            return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise MediaError(path, f"not a readable image ({err})") from None


def read_frames(paths: list[Source], size: Size = None) -> torch.Tensor:
    """A list of image files (e.g. an AVSBench frame folder) as uint8 (T, H, W, 3); all the same size."""
    if not paths:
        raise ValueError("read_frames needs at least one image path")
    frames = [read_image(paths[0], size)]
    shape = frames[0].shape[:2]
    for p in paths[1:]:
        image = read_image(p, size if size is not None else (shape[0], shape[1]))
        frames.append(image)
    return torch.stack(frames)


def read_frame_sequence(
    frames: list[Source], rate: float, start: float, duration_s: float, fps: float | None, origin: str
) -> Clip:
    """The window [start, start + duration) of a silent video stored as image files (`frames`, shown at
    `rate` frames/s; Penn Action): at `fps` (None: `rate`) the frame under each sampling time
    (start + (k + ½) / fps), at native size; times past the last frame repeat it and mark the window padded
    (`num_valid_frames` counts the others). `origin` names the video in the Clip."""
    count = num_frames_for(duration_s, fps or rate)
    times = start + (np.arange(count) + 0.5) * duration_s / count
    index = np.floor(times * rate + 1e-6).astype(int)  # the frame shown at each time (no float slips)
    valid = int((index < len(frames)).sum())
    index = np.minimum(index, len(frames) - 1)
    return Clip(
        path=origin,
        start_s=start,
        duration_s=duration_s,
        frames=read_frames([frames[i] for i in index], None),
        frame_times=torch.from_numpy(times),
        num_valid_frames=valid,
        padded=valid < count,
    )


def read_masks(
    paths: list[str | os.PathLike | None], size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary masks (T, H, W) uint8 from mask images (any non-zero pixel = 1) and a (T,) bool tensor
    saying which exist (None entries give an all-zero mask marked False). A mask whose size differs from
    `size` (H, W) is an error: masks are never silently resized."""
    masks = torch.zeros((len(paths), *size), dtype=torch.uint8)
    valid = torch.zeros(len(paths), dtype=torch.bool)
    for t, path in enumerate(paths):
        if path is None:
            continue
        path = _check_file(path)
        try:
            with Image.open(path) as img:
                array = np.asarray(img.convert("L"))
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise MediaError(path, f"not a readable mask image ({err})") from None
        if array.shape != tuple(size):
            raise MediaError(
                path, f"mask is {array.shape[1]}x{array.shape[0]}, its frame is {size[1]}x{size[0]}"
            )
        masks[t] = torch.from_numpy((array > 0).astype(np.uint8))
        valid[t] = True
    return masks, valid


def read_image_audio(
    image_path: Source,
    audio_path: str | os.PathLike,
    start_s: float,
    duration_s: float,
    *,
    size: Size = None,
    sample_rate: int = 16000,
    channels: int = 1,
) -> Clip:
    """A still frame and an audio window (Flickr-SoundNet / VGG-SS test layout) as a one-frame Clip."""
    frames = read_image(image_path, size)[None]
    audio, valid = read_audio(audio_path, start_s, duration_s, sample_rate=sample_rate, channels=channels)
    return Clip(
        path=str(image_path),
        start_s=float(start_s),
        duration_s=float(duration_s),
        frames=frames,
        frame_times=torch.tensor([float(start_s)], dtype=torch.float64),
        audio=audio,
        sample_rate=sample_rate,
        num_valid_frames=1,
        num_valid_samples=valid,
        padded=valid < audio.shape[1],
        info={"audio_path": str(audio_path)},
    )
