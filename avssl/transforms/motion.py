"""Motion inputs computed in the data workers without learned weights: dense optical flow and frame
differences, as sample transforms that write `sample["motion"]`.

- Flow: OpenCV's TV-L1 (Zach, Pock and Bischof, "A Duality Based Approach for Realtime TV-L1 Optical
  Flow", DAGM 2007) when `cv2.optflow` (opencv-contrib) is installed, else Farnebäck ("Two-Frame Motion
  Estimation Based on Polynomial Expansion", SCIA 2003). 2 channels (dx, dy) in pixels per frame step of
  the decoded window, between consecutive decoded frames: T frames give T − 1 flow fields.
- Frame differences: frame t+1 − frame t of the RGB frames in [0, 1], 3 channels, T − 1 steps (the motion
  input of MaCLR: Xiao et al., "MaCLR: Motion-aware Contrastive Learning of Representations for Videos",
  ECCV 2022, and of FAME's foreground rule).

Both go first in a pipeline (they read the decoded frames); `ClipAugment`, the crops and flips of
`avssl.transforms.video` do not touch `motion`, so motion methods use `clip_augment`, which crops, resizes
and flips `motion` with the clip (a flipped flow's dx changes sign; a resized flow is rescaled), and
`normalize` turns it into (C, T − 1, H, W) like the video. `sample["meta"]["motion"]` names the kind.

Flow cache: with `cache_dir`, the flow of each decoded window is stored under
`cache_dir/<hash of the video's path>/<start ms>_<fps>_<H>x<W>_<method>.npy` (float16) with the video's
path, size and modification time in `source.json` (a changed video invalidates its entries). The cache
belongs beside the run (e.g. `<output_dir>/flow_cache`): a cache folder inside a video's own folder is
refused, avssl never writes beside the user's data.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from avssl.transforms.compose import Sample, Transform

FLOW_METHODS = ("auto", "tvl1", "farneback")


def flow_method(method: str = "auto") -> str:
    """The flow algorithm `method` resolves to here: "tvl1" when asked or available, else "farneback"."""
    import cv2

    if method not in FLOW_METHODS:
        raise ValueError(f"flow method must be one of {', '.join(FLOW_METHODS)}, got {method!r}")
    has_tvl1 = hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")
    if method == "tvl1" and not has_tvl1:
        raise ValueError("TV-L1 flow needs cv2.optflow (opencv-contrib-python); use 'farneback' or 'auto'")
    if method == "auto":
        return "tvl1" if has_tvl1 else "farneback"
    return method


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def optical_flow(frames: torch.Tensor | np.ndarray, method: str = "auto") -> np.ndarray:
    """Dense flow between consecutive frames: uint8 (T, 3, H, W) → float32 (T − 1, 2, H, W), (dx, dy) in
    pixels such that frame t at (x, y) is seen at (x + dx, y + dy) in frame t + 1."""
    import cv2

    method = flow_method(method)
    array = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.ndim != 4 or array.shape[1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"optical_flow needs uint8 frames (T, 3, H, W), got {array.dtype} {array.shape}")
    gray = [_gray(f.transpose(1, 2, 0)) for f in array]
    if method == "tvl1":
        solver = cv2.optflow.DualTVL1OpticalFlow_create()
        flows = [solver.calc(a, b, None) for a, b in zip(gray[:-1], gray[1:])]
    else:
        flows = [
            cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
            for a, b in zip(gray[:-1], gray[1:])
        ]
    if not flows:
        return np.zeros((0, 2, *array.shape[2:]), np.float32)
    return np.stack(flows).transpose(0, 3, 1, 2).astype(np.float32)


def frame_differences(frames: torch.Tensor) -> torch.Tensor:
    """Frames (T, 3, H, W) uint8 or [0, 1] float → float (T − 1, 3, H, W): frame t+1 − frame t in [−1, 1]."""
    video = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()
    return video[1:] - video[:-1]


def _with_motion(sample: Sample, motion: torch.Tensor, kind: str) -> Sample:
    sample["motion"] = motion
    sample["meta"] = {**sample.get("meta", {}), "motion": kind}
    return sample


class FrameDifference(Transform):
    """`sample["motion"]` = the clip's frame differences (T − 1, 3, H, W); goes before the crops."""

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        return _with_motion(sample, frame_differences(sample["video"]), "frame_difference")


class FlowCache:
    """Per-video folders of per-window flow arrays (see the module doc)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()

    def _folder(self, video: Path) -> Path:
        key = hashlib.sha1(str(video).encode()).hexdigest()[:16]
        return self.root / key

    def _source(self, video: Path) -> dict:
        stat = video.stat()
        return {"path": str(video), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def check_location(self, video: Path) -> None:
        if self.root == video.parent or video.parent in self.root.parents:
            raise ValueError(
                f"flow cache {self.root} is inside the data folder {video.parent}: give a folder beside the "
                "run (e.g. <output_dir>/flow_cache); avssl does not write beside the data"
            )

    def entry(self, video: Path, start_s: float, fps: float, shape: tuple[int, int], method: str) -> Path:
        name = f"{round(start_s * 1000)}_{fps:g}_{shape[0]}x{shape[1]}_{method}.npy"
        return self._folder(video) / name

    def load(self, video: Path, entry: Path) -> np.ndarray | None:
        source = entry.parent / "source.json"
        if not entry.is_file() or not source.is_file():
            return None
        if json.loads(source.read_text()) != self._source(video):
            return None
        return np.load(entry).astype(np.float32)

    def save(self, video: Path, entry: Path, flow: np.ndarray) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        source = entry.parent / "source.json"
        current = self._source(video)
        if not source.is_file() or json.loads(source.read_text()) != current:
            for stale in entry.parent.glob("*.npy"):
                stale.unlink()
            source.write_text(json.dumps(current))
        tmp = entry.with_suffix(f".{os.getpid()}.tmp.npy")  # workers write concurrently: rename is atomic
        np.save(tmp, flow.astype(np.float16))
        os.replace(tmp, entry)


class WindowCached(Transform):
    """A transform whose array for a decoded window is computed from its frames and, with `cache_dir`,
    stored in a `FlowCache` keyed by the window (`fps`: the data config's frame rate); counts hits and misses."""

    def __init__(self, cache_dir: str | None = None, fps: float = 0.0) -> None:
        super().__init__()
        self.cache = FlowCache(cache_dir) if cache_dir else None
        self.fps = fps
        self.hits = self.misses = 0

    def cached(
        self, sample: Sample, method: str, compute: Callable[[torch.Tensor], np.ndarray], rows: int
    ) -> np.ndarray:
        """`compute(sample["video"])`, or its cached value for this window when it has `rows` rows."""
        video = sample["video"]
        meta = sample.get("meta", {})
        path = meta.get("path")
        if self.cache is None or path is None or not Path(path).is_file():
            return compute(video)
        source = Path(path).resolve()
        self.cache.check_location(source)
        entry = self.cache.entry(
            source, float(meta.get("start_s", 0.0)), self.fps, tuple(video.shape[-2:]), method
        )
        value = self.cache.load(source, entry)
        if value is not None and value.shape[0] == rows:
            self.hits += 1
            return value
        self.misses += 1
        value = compute(video)
        self.cache.save(source, entry, value)
        return value


class OpticalFlow(WindowCached):
    """`sample["motion"]` = dense flow (T − 1, 2, H, W) of the decoded clip (`optical_flow`), optionally
    clipped to ±`bound` pixels and cached (`cache_dir`, see the module doc; `fps` keys the cache: the
    data config's frame rate). Goes before the crops."""

    def __init__(
        self, method: str = "auto", cache_dir: str | None = None, bound: float | None = None, fps: float = 0.0
    ):
        super().__init__(cache_dir, fps)
        self.method = flow_method(method)
        self.bound = bound

    def compute(self, sample: Sample) -> np.ndarray:
        rows = sample["video"].shape[0] - 1
        return self.cached(sample, self.method, lambda video: optical_flow(video, self.method), rows)

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        flow = self.compute(sample)
        if self.bound is not None:
            flow = np.clip(flow, -self.bound, self.bound)
        return _with_motion(sample, torch.from_numpy(np.ascontiguousarray(flow)), "flow")
