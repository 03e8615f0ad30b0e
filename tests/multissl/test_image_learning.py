"""Image multi-SSL learns: the frozen backbone's kNN top-1 after MoCo v2 + DenseCL beats the same backbone
at random init on held-out images.

Data: the recipe's synthetic ImageFolder tree (4 classes, 192 train / 64 val images at 64 px; the class
decides the object's shape and colour, the background is random). Baseline: the same seed and recipe
trained for one step at learning rate 0 (random weights; BatchNorm statistics from one batch, as a
trained model's are from its batches). Bar: +6.25 points (4 of the 64 held-out images).
"""

from __future__ import annotations

import pytest
import torch

from recipes.multissl_image import main

COMMON = ["train.progress_bar=false", "train.checkpoint_every=100000", "data.num_workers=1"]


def _knn(result: dict) -> float:
    return next(iter(result["eval"].values()))["probe"]["knn"]["top1"]


@pytest.mark.slow
def test_joint_moco_densecl_beats_random_init_knn(tmp_path) -> None:
    torch.set_num_threads(1)
    baseline = _knn(main([f"output_dir={tmp_path / 'random'}", "train.max_steps=1", "optim.lr=0", *COMMON]))
    trained = _knn(main([f"output_dir={tmp_path / 'joint'}", "train.max_steps=150", *COMMON]))
    print(f"image multi-SSL kNN top-1: random init {baseline:.1f}, MoCo v2 + DenseCL 150 steps {trained:.1f}")
    assert trained >= baseline + 6.25
