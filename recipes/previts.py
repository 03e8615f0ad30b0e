"""PreViTS (Chen et al., arXiv 2112.00804): video MoCo on crops that keep the clip's tracked moving object
(motion saliency seeding OpenCV's MIL tracker: the `object_track` and `track_crop` transforms), with the
query's Grad-CAM map (w.r.t. the positive logit) pushed onto the tracked region by a cosine distance.

    accelerate launch recipes/previts.py --config recipes/configs/previts.yaml \\
        data.root=/data/UCF101 data.layout=ucf101 model.encoder.name=r3d_18 data.size=112 \\
        model.queue_size=16384 output_dir=runs/previts_ucf101

`model.attention_weight` weighs the attention term (3, the paper's; 0 switches it off); the tracker and the
crop are the `object_track` / `track_crop` entries of `data.transforms`. Runs unchanged as `python
recipes/previts.py …`, under `torchrun` and `accelerate launch`; rerunning the same command resumes. With
`data.root` empty it trains on a synthetic UCF101-layout action set with a background trap (OUTPUT/synthetic).
At the end the `action`, `clip_pairs` and `attention` evaluators score the frozen encoder (RUN/eval_*.json).
What to expect: the README's PreViTS sentence and docs/methods.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="previts")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
