"""MaCLR (Xiao et al., ECCV 2022): a visual (RGB) and a motion (frame differences or flow) pathway, each
with its intra-modal MoCo term, plus the cross-modal visual ↔ motion term; the visual encoder is kept.

    accelerate launch recipes/maclr.py --config recipes/configs/maclr.yaml \
        data.root=/data/UCF101 data.layout=ucf101 model.encoder.name=r3d_18 \
        model.motion_encoder.name=r3d_18 data.size=112 model.queue_size=65536 output_dir=runs/maclr_ucf101

Flow instead of frame differences: `model.motion=flow` and `{name: optical_flow, cache_dir: RUN/flow_cache}`
as the first data transform. Runs unchanged as `python recipes/maclr.py …`, under `torchrun` and
`accelerate launch`; rerunning the same command resumes. With `data.root` empty it trains on a synthetic
UCF101-layout action set with a background trap (OUTPUT/synthetic). At the end the `action` and
`clip_pairs` evaluators score the frozen visual encoder (RUN/eval_action.json, RUN/eval_clip_pairs.json);
or afterwards `avssl eval action --run RUN --protocol linear --background-swapped`.
What to expect: the README's "MaCLR" row and docs/results.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="maclr")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
