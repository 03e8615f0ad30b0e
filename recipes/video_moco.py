"""Video MoCo: MoCo v2 (queue + momentum encoder, InfoNCE over the queue) with two clips of one video as the
positive pair — the baseline the motion- and background-aware video methods are compared with.

    accelerate launch recipes/video_moco.py --config recipes/configs/video_moco.yaml \
        data.root=/data/UCF101 data.layout=ucf101 model.encoder.name=r3d_18 data.size=112 \
        model.queue_size=16384 output_dir=runs/video_moco_ucf101

Runs unchanged as `python recipes/video_moco.py …` (one process), under `torchrun --nproc_per_node N` and
`accelerate launch --multi_gpu --num_processes N`; rerunning the same command resumes. With `data.root`
empty it trains on a synthetic UCF101-layout action set (motion-defined classes with a background trap)
written into `output_dir/synthetic`. At the end the `action` evaluator scores the frozen encoder:
linear probe and kNN with the multi-clip test (top-1 / top-5 per video), on the background-swapped copy
(and the drop), and clip retrieval R@1/5/10/20/50 (RUN/eval_action.json); or afterwards:
`avssl eval action --run RUN --protocol linear --background-swapped --out m.json`.
What to expect: see the README's "Video MoCo" section for the figures measured on the synthetic set.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="video_moco")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
