"""Shared by the recipe tests, built once per session: synthetic VGG-Sound-layout data, the video
learning tests' synthetic action set with its two baselines (untrained and video MoCo, trained by
`tools/compare_video.py`'s harness at the learning-test scale), and the dense image learning tests' scenes
and evaluation trees with plain MoCo v2 and the untrained architecture (`tools/dense_suite.py`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from avssl.data.synthetic.layouts import SynthSpec, write_synthetic

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from compare_video import figures, train_method, write_data  # noqa: E402
from dense_suite import evaluate_dense, train_dense, trained_as, write_dense_data  # noqa: E402

VIDEO_STEPS, VIDEO_SIZE, VIDEO_SEED = 150, 32, 0  # the video learning tests' scale (compare_video's defaults)


@pytest.fixture(scope="session")
def vggsound_synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("vggsound_synth")
    write_synthetic("vggsound", root, SynthSpec(n=48, seed=1, size=64, duration_s=2.0, num_classes=8))
    return root


class VideoBench:
    """The video learning tests' set (6 motions × 32 clips at 32 px, split 1: 144 training / 48 test videos,
    background trap + swapped test copy) and `train(name)`: a `compare_video` method trained on it (150 steps,
    seed 0, one thread), its table figures (`compare_video.figures`); each method trains once per session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = write_data(root, VIDEO_SIZE, VIDEO_SEED, [])
        self._figures: dict[str, dict] = {}

    def run_dir(self, name: str) -> Path:
        """Where `train(name)` trains (and keeps) the run."""
        return self.root / "runs" / name

    def train(self, name: str) -> dict:
        if name not in self._figures:
            torch.set_num_threads(1)
            run = self.run_dir(name)
            evaluation = train_method(name, run, self.data, VIDEO_STEPS, VIDEO_SIZE, VIDEO_SEED)
            self._figures[name] = figures(evaluation)
            print(name, {k: None if v is None else round(v, 3) for k, v in self._figures[name].items()})
        return self._figures[name]


@pytest.fixture(scope="session")
def video_bench(tmp_path_factory) -> VideoBench:
    return VideoBench(tmp_path_factory.mktemp("video_bench"))


DENSE_STEPS, DENSE_SEED = 150, 0  # the dense image learning tests' scale


class DenseBench:
    """The dense image learning tests' data (`dense_suite.write_dense_data`: 256 / 96 scenes at 64 px, VOC,
    COCO and LEVIR-CD trees) and `figures(name, columns)`: a `dense_suite` method pretrained on the scenes
    (150 steps, seed 0, one thread; each trained once per session) scored on `columns`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.trees = write_dense_data(root, DENSE_SEED)

    def run_dir(self, name: str) -> Path:
        return self.root / "runs" / trained_as(name)

    def figures(self, name: str, columns: tuple[str, ...], detection_steps: int = 0) -> dict:
        torch.set_num_threads(1)
        run = train_dense(name, self.run_dir(name), self.trees["scenes"], DENSE_STEPS, DENSE_SEED)
        settings = {"detection_steps": detection_steps, "change_steps": 200, "columns": list(columns)}
        result = evaluate_dense(name, run, self.trees, DENSE_SEED, settings)
        print(name, {k: v if v is None else round(v, 2) for k, v in result.items()})
        return result


@pytest.fixture(scope="session")
def dense_bench(tmp_path_factory) -> DenseBench:
    return DenseBench(tmp_path_factory.mktemp("dense_bench"))
