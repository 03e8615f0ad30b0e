"""Image multi-SSL: MoCo v2 (global) + DenseCL (dense) on one backbone — single task, joint, or incremental
(stages, as in recipes/binaural_multissl.py) — then a linear probe / kNN on the frozen backbone.

    accelerate launch recipes/multissl_image.py --config recipes/configs/multissl_image_joint.yaml \
        data.root=/data/imagenet_subset output_dir=runs/image_joint

`data.root` is an ImageFolder tree (`root/<split>/<class>/*.jpg`); empty: a synthetic one (scene renderer,
4 classes) is written into OUTPUT/synthetic. Configs: multissl_image_joint.yaml (λ = 0.5 as DenseCL),
multissl_image_incremental.yaml (MoCo v2 stage, then DenseCL with feature distillation). After training the
frozen backbone's pooled features are probed on `eval.split` (top-1, percent): RUN/eval.json.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="image_multissl")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
