"""CVRL: two clips of one video at a power-law distance, one augmentation draw per clip, InfoNCE over the
batch (Qian et al., "Spatiotemporal Contrastive Video Representation Learning", CVPR 2021).

    accelerate launch recipes/cvrl.py --config recipes/configs/cvrl.yaml \
        data.root=/data/UCF101 data.layout=ucf101 model.encoder.name=r3d_18 data.size=112 \
        data.views.1.timing.distance=power train.batch_size=64 output_dir=runs/cvrl_ucf101

Runs unchanged as `python recipes/cvrl.py …` (one process), under `torchrun --nproc_per_node N` and
`accelerate launch --multi_gpu --num_processes N`; rerunning the same command resumes. With `data.root`
empty it trains on a synthetic UCF101-layout action set (motion-defined classes with a background trap)
written into `output_dir/synthetic`. At the end the `action` evaluator scores the frozen encoder:
linear probe and kNN with the multi-clip test (top-1 / top-5 per video), on the background-swapped copy
(and the drop), and clip retrieval R@1/5/10/20/50 (RUN/eval_action.json); or afterwards:
`avssl eval action --run RUN --protocol linear --background-swapped --out m.json`.
What to expect: see the README's "Action recognition (video)" section for the figures measured on the
synthetic set.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="cvrl")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
