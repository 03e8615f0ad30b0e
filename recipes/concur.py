"""ConCur: CVRL's clip contrast with a curriculum over the distance between the positive clips and a head
predicting that distance (Roy & Etemad, "Temporal Contrastive Learning with Curriculum", ICASSP 2023).

    accelerate launch recipes/concur.py --config recipes/configs/concur.yaml \
        data.root=/data/UCF101 data.layout=ucf101 model.encoder.name=r3d_18 data.size=112 \
        model.distance_max_s=6 data.views.1.timing.curriculum_epochs=50 output_dir=runs/concur_ucf101

Launchers, resume, the synthetic default set and the evaluation at the end are video_moco's (see
recipes/video_moco.py); the ablations are `data.views.1.timing.curriculum_epochs=0` (no curriculum) and
`model.distance_weight=0` (no distance head). Figures: the README's "Action recognition (video)" section.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="concur")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
