"""FAME (Ding et al., CVPR 2022): video MoCo whose key clip is the second clip's moving foreground
(frame differences + colour statistics, no detector) pasted onto the static background of another video
of the batch; the original and the fused clip are the positive pair.

    accelerate launch recipes/fame.py --config recipes/configs/fame.yaml \
        data.root=/data/UCF101 data.layout=ucf101 model.encoder.name=r3d_18 data.size=112 \
        model.queue_size=16384 model.foreground_ratio=0.5 output_dir=runs/fame_ucf101

`model.foreground_ratio` and `model.mask_rule` (difference | difference_colour) set the merging. Runs
unchanged as `python recipes/fame.py …`, under `torchrun` and `accelerate launch`; rerunning the same
command resumes. With `data.root` empty it trains on a synthetic UCF101-layout action set with a background
trap (OUTPUT/synthetic). At the end the `action` and `clip_pairs` evaluators score the frozen encoder
(RUN/eval_action.json, RUN/eval_clip_pairs.json); or afterwards
`avssl eval action --run RUN --protocol linear --background-swapped`.
What to expect: the README's "FAME" row and docs/results.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="fame")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
