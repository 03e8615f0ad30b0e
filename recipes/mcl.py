"""MCL (Li et al., ICCV 2021): video MoCo on motion-focused tubes (crops that follow the clip's flow or
frame differences, the `flow_tubes` transform) with the query's Grad-CAM gradient map aligned to the motion
magnitude from the spatial, temporal and spatio-temporal views.

    accelerate launch recipes/mcl.py --config recipes/configs/mcl.yaml \\
        data.root=/data/UCF101 data.layout=ucf101 model.encoder.name=r2plus1d_18 data.size=112 \\
        model.queue_size=16384 output_dir=runs/mcl_ucf101

`model.spatial_weight`, `model.temporal_weight`, `model.spatiotemporal_weight` weigh (0: switch off) the
three alignment terms; the tube size and count are the `flow_tubes` entry of `data.transforms`. Runs
unchanged as `python recipes/mcl.py …`, under `torchrun` and `accelerate launch`; rerunning the same command
resumes. With `data.root` empty it trains on a synthetic UCF101-layout action set with a background trap
(OUTPUT/synthetic). At the end the `action` and `clip_pairs` evaluators score the frozen encoder
(RUN/eval_action.json, RUN/eval_clip_pairs.json). What to expect: the README's "MCL" row and docs/methods.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="mcl")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
