"""HCL (Ge et al., "Hyperbolic Contrastive Learning for Visual Representations beyond Objects", CVPR 2023):
object crops contrasted MoCo v2-style in Euclidean space, scene images embedded in the Poincaré ball and
pulled towards their own objects (weight `model.hyp_weight`, curvature `model.curvature`); then kNN /
linear probe and scene → object retrieval (mAP, R@1/5; cosine and hyperbolic).

    accelerate launch recipes/hcl.py --config recipes/configs/hcl.yaml data.root=/data/coco_folder \\
        data.objects=annotations output_dir=runs/hcl

`data.root` is an ImageFolder tree (`root/<split>/<class>/*.jpg`) with `annotations/<split>.json` boxes for
the evaluation split (and for training with `data.objects=annotations`; the default `saliency` finds one
box per image without labels); empty: synthetic scenes of 1–3 objects are written into OUTPUT/synthetic.
Results: RUN/eval.json (`probe`, `scene_objects`). Measured against plain MoCo v2: tests/recipes/test_dense_learning.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="hcl")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
