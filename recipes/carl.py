"""CARL: a per-frame encoder and a transformer over time trained by the sequence contrastive loss between
two windows of one video (Chen, Wei, Li & Cai, "Frame-wise Action Representations for Long Videos via
Sequence Contrastive Learning", CVPR 2022).

    accelerate launch recipes/carl.py --config recipes/configs/carl.yaml \
        data.root=/data/UCF101 model.encoder.name=resnet50 data.size=224 data.duration_s=3 output_dir=runs/carl

Launchers, resume, the synthetic default set and the evaluation at the end are video_moco's (see
recipes/video_moco.py); `model.weak_weight=1` adds the weakly supervised DTW pairing of same-label videos.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="carl")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
