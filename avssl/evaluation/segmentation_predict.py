"""Predicted masks of a trained `avs` task on an AVSBench layout's test split, for
`avssl eval segmentation --run RUN` and for evaluation during and after training.

Each test video's frames are resized to the model's square input (`data.size`), its 5 s of audio read as
in training, and `task.segment(batch)` gives (T, size, size) probabilities per video id;
:func:`avssl.evaluation.segmentation.evaluate_segmentation` resizes them to the masks' size.
"""

from __future__ import annotations

import numpy as np
import torch

from avssl.data.datasets.base import ClipDataset
from avssl.data.loader import DataConfig
from avssl.evaluation.localization_predict import benchmark_dataset, predict_items


def avsbench_test_dataset(benchmark: str, root: str, run_data: dict | DataConfig) -> ClipDataset:
    """The test videos of `root` (layout `benchmark`) with the run's audio settings and a square resize."""
    return benchmark_dataset(benchmark, root, run_data, split="test")


def predict_segmentation(
    task: torch.nn.Module,
    dataset: ClipDataset,
    batch_size: int = 4,
    num_workers: int = 2,
    device: str | torch.device | None = None,
) -> dict[str, np.ndarray]:
    """{video id: (T, H, W) float32 probabilities} from `task.segment` (task in eval mode, then restored), on
    `device` (None: the task's own)."""
    return predict_items(task.segment, task, dataset, batch_size, num_workers, device)
