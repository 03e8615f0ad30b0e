"""PreViTS against video MoCo on attention, at CPU scale: both trained STEPS steps with the same seed on the
same synthetic UCF101-layout action set (6 motion classes × 16 clips, split 1: 72 train / 24 test videos, at
32 px, 8-frame clips, batch 16, queue 32), scored by the `attention` evaluator (the IoU of the encoder's top-20 %
activation region with the moving object's true masks on the test clips).

The claim (issue): PreViTS' attention maps overlap the moving object more than MoCo's.

Measured here: FIGURES
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from recipes.previts import main as previts_main
from recipes.video_moco import main as moco_main

STEPS = 100
ROOT = Path(__file__).resolve().parents[2] / "recipes" / "configs"
COMMON = [
    "data.size=32",
    "synthetic_clips_per_class=16",
    "data.num_workers=1",
    "train.checkpoint_every=100000",
    "train.progress_bar=false",
    f"train.max_steps={STEPS}",
    "eval.evaluators=[attention]",
]


def _iou(result: dict) -> dict:
    attention = next(iter(result["eval"].values()))["attention"]
    return {"iou": attention["iou"], "swapped": attention.get("iou_swapped")}


@pytest.mark.slow
def test_previts_attends_to_the_moving_object_more_than_video_moco(tmp_path) -> None:
    torch.set_num_threads(1)
    moco = _iou(
        moco_main(["--config", str(ROOT / "video_moco.yaml"), *COMMON, f"output_dir={tmp_path / 'moco'}"])
    )
    data = f"data.root={tmp_path / 'moco' / 'synthetic'}"  # the set the first run wrote
    previts = _iou(
        previts_main(
            ["--config", str(ROOT / "previts.yaml"), *COMMON, data, f"output_dir={tmp_path / 'previts'}"]
        )
    )
    print({"moco": moco, "previts": previts})
    assert previts["iou"] > moco["iou"]
