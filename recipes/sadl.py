"""SaDL-CD (Chen, Li, Chen & Shi, "Semantic-aware Dense Representation Learning for Remote Sensing Image
Change Detection", IEEE TGRS 2022): point-level self-supervision on single-date images with semantic masks —
class-balanced points in the overlap of two views, aligned points pulled together, foreground and
background point features pushed apart, a background-swapped view — then change-detection fine-tuning of
the backbone (Siamese encoder + light decoder; F1 / IoU / precision / recall / OA).

    accelerate launch recipes/sadl.py --config recipes/configs/sadl.yaml data.root=/data/WHU-CD \\
        data.mask_dirs='{A: /data/WHU/2012/label, B: /data/WHU/2016/label}' output_dir=runs/sadl

`data.root` is a LEVIR-CD / WHU-CD tree (`<split>/A`, `<split>/B`, `<split>/label`); the training images are
the `data.dates` folders of `data.split`, their masks label PNGs from `data.mask_dirs` (default
`<split>/semantic/<date>`, what `avssl synth --layout levir-cd` writes) or, with
`data.semantic_masks=saliency`, unsupervised. Empty `data.root`: synthetic pairs with semantic masks are
written into OUTPUT/synthetic. Results: RUN/eval.json (`change_detection`). Measured: see
tests/recipes/test_sadl_learning.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="sadl")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
