"""Motion inputs without weights: OpenCV dense flow on a known translation of a textured image (raw frames
and after h264 encoding), frame differences against a naive loop, the per-video flow cache beside the run,
and the motion input following a clip's crop / flip / normalisation."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF

from avssl.data.datasets.base import ClipDataset, ClipItem, ClipSpec
from avssl.data.media_writer import VideoEncoding, write_video
from avssl.transforms import build_transforms
from avssl.transforms.clip import ClipAugment
from avssl.transforms.motion import FrameDifference, OpticalFlow, flow_method, frame_differences, optical_flow

SHIFT = (3.0, -2.0)  # (dx, dy) pixels per frame


def _texture(size: int = 160, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(0, 255, (size, size, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 3 - 255, 0, 255).astype(np.uint8)


def _translated(frames: int = 6, size: int = 64) -> np.ndarray:
    """(T, H, W, 3): frame t shows the texture moved by t × SHIFT (frame t at x is frame t+1 at x + dx)."""
    image, (dx, dy) = _texture(), SHIFT
    x0, y0 = 48, 48
    return np.stack(
        [
            image[int(y0 - t * dy) : int(y0 - t * dy) + size, int(x0 - t * dx) : int(x0 - t * dx) + size]
            for t in range(frames)
        ]
    )


def _interior_mean(flow: np.ndarray, border: int = 10) -> np.ndarray:
    return flow[:, :, border:-border, border:-border].mean(axis=(0, 2, 3))


def test_flow_of_a_known_translation_is_the_shift_and_is_opencvs():
    frames = _translated()
    video = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()
    flow = optical_flow(video)
    assert flow.shape == (5, 2, 64, 64) and flow.dtype == np.float32
    assert np.allclose(_interior_mean(flow), SHIFT, atol=0.2), _interior_mean(flow)
    # exactly OpenCV's answer on the same grey frames (the method this machine has)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    if flow_method() == "tvl1":
        reference = cv2.optflow.DualTVL1OpticalFlow_create().calc(gray[0], gray[1], None)
    else:
        reference = cv2.calcOpticalFlowFarneback(gray[0], gray[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
    assert np.array_equal(flow[0], reference.transpose(2, 0, 1))


def test_flow_method_resolution():
    has_tvl1 = hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")
    assert flow_method("auto") == ("tvl1" if has_tvl1 else "farneback")
    assert flow_method("farneback") == "farneback"
    if has_tvl1:
        assert flow_method("tvl1") == "tvl1"
    else:
        with pytest.raises(ValueError, match="opencv-contrib"):
            flow_method("tvl1")
    with pytest.raises(ValueError, match="flow method"):
        flow_method("raft")


def test_frame_differences_against_a_loop():
    video = torch.randint(0, 256, (5, 3, 8, 9), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    diff = frame_differences(video)
    for t in range(4):
        for c in range(3):
            for y in range(8):
                for x in range(9):
                    expected = (int(video[t + 1, c, y, x]) - int(video[t, c, y, x])) / 255.0
                    assert abs(float(diff[t, c, y, x]) - expected) < 1e-6
    out = FrameDifference()({"video": video, "meta": {"path": "x"}})
    assert out["motion"].shape == (4, 3, 8, 9) and out["meta"] == {"path": "x", "motion": "frame_difference"}


@pytest.fixture
def translated_video(tmp_path):
    data = tmp_path / "data"
    path = write_video(
        data / "moving.mp4", list(_translated(frames=16)), 8, encoding=VideoEncoding(gop=8, crf=12)
    )
    return ClipItem(id="moving", path=str(path), video_only=True)


def _dataset(video: ClipItem, transform) -> ClipDataset:
    """The translated video as one 1-s, 8-fps clip from its start, through `transform`."""
    return ClipDataset(
        [video], ClipSpec(duration_s=1.0, fps=8, size=None, sampler="start"), transform=transform, mode="eval"
    )


def test_flow_on_encoded_media_and_the_cache_beside_the_run(tmp_path, translated_video):
    cache = tmp_path / "run" / "flow_cache"
    flow = OpticalFlow(cache_dir=str(cache), fps=8)
    dataset = _dataset(translated_video, flow)
    first = dataset[0]
    assert first["motion"].shape == (7, 2, 64, 64) and first["meta"]["motion"] == "flow"
    assert np.allclose(_interior_mean(first["motion"].numpy()), SHIFT, atol=0.35)
    assert (flow.hits, flow.misses) == (0, 1)
    entries = list(cache.rglob("*.npy"))
    assert len(entries) == 1 and entries[0].name == "0_8_64x64_" + flow.method + ".npy"
    assert (entries[0].parent / "source.json").is_file()
    assert not list((tmp_path / "data").glob("*.npy"))  # nothing written beside the data
    second = dataset[0]
    assert (flow.hits, flow.misses) == (1, 1)
    assert torch.allclose(second["motion"], first["motion"], atol=0.02)  # float16 storage
    # a changed video invalidates its entries
    path = translated_video.path
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    dataset[0]
    assert (flow.hits, flow.misses) == (1, 2)
    inside = OpticalFlow(cache_dir=str(tmp_path / "data" / "cache"))
    with pytest.raises(ValueError, match="inside the data folder"):
        _dataset(translated_video, inside)[0]


def test_motion_follows_the_clip_augmentation_and_normalize(translated_video):
    pipeline = build_transforms(
        [
            {"name": "optical_flow"},
            {
                "name": "clip_augment",
                "size": 32,
                "scale": [0.5, 0.5],
                "ratio": [1.0, 1.0],
                "flip_p": 1.0,
                "jitter_p": 0.0,
            },
            {"name": "normalize"},
        ]
    )
    dataset = _dataset(translated_video, pipeline)
    sample = dataset[0]
    assert sample["video"].shape == (3, 8, 32, 32) and sample["motion"].shape == (2, 7, 32, 32)
    _, _, height, width = sample["augment"]["crop"]
    # a 45 × 45 crop resized to 32: flow scales by 32 / 45; the flip negates dx
    expected = np.array([-SHIFT[0] * 32 / width, SHIFT[1] * 32 / height])
    mean = sample["motion"][:, :, 6:-6, 6:-6].mean(dim=(1, 2, 3)).numpy()
    assert np.allclose(mean, expected, atol=0.3), (mean, expected)
    # frame differences are cropped and flipped with the clip, never colour-jittered
    video = torch.from_numpy(_translated()).permute(0, 3, 1, 2).contiguous()
    augment = ClipAugment(size=24, flip_p=1.0, jitter_p=1.0, grayscale_p=0.0)
    out = augment(FrameDifference()({"video": video, "meta": {}}), torch.Generator().manual_seed(0))
    top, left, height, width = out["augment"]["crop"]
    raw = frame_differences(video)
    expected_diff = TF.horizontal_flip(
        TF.resized_crop(raw, top, left, height, width, [24, 24], antialias=True)
    )
    assert torch.allclose(out["motion"], expected_diff)
