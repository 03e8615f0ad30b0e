"""CYBORGS (Wang, Zhao & Gao, "CYBORGS: Contrastively Bootstrapping Object Representations by Grounding in
Segmentation", ECCV 2022): DetCon's mask-pooled contrastive loss on segments that start as
Felzenszwalb–Huttenlocher superpixels and are bootstrapped from the momentum network's dense features
(k-means per image, `model.clusters`) from step `model.bootstrap_start`, refreshed every
`model.refresh_every` steps; then the segments' best-overlap mIoU against annotated masks, a dense probe
(mIoU on a VOC tree) and kNN / linear probes.

    accelerate launch recipes/cyborgs.py --config recipes/configs/cyborgs.yaml data.root=/data/folder \\
        eval.root=/data/VOCdevkit/VOC2012 output_dir=runs/cyborgs

`data.root` is an ImageFolder tree (`root/<split>/<class>/*.jpg`, with `masks/<split>/…` instance masks for
the segment scores); empty: synthetic scenes of 1–3 objects in OUTPUT/synthetic and a VOC tree of the same
generator in OUTPUT/synthetic_voc. Results: RUN/eval.json (`segments`, `dense_probe`, `probe`). Measured:
see tests/recipes/test_cyborgs_learning.py and the README.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="cyborgs")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
