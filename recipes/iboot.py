"""iBoot: a clip encoder that subsumes a frozen image model (it predicts the teacher's per-frame features)
next to a video InfoNCE (Saleh et al., "iBoot: Image-bootstrapped Self-Supervised Video Representation
Learning", 2022).

    accelerate launch recipes/iboot.py --config recipes/configs/iboot.yaml \
        data.root=/data/UCF101 model.encoder.name=r3d_18 data.size=112 \
        model.teacher.name=resnet50 model.teacher.weights=resnet50-11ad3fa6.pth \
        model.teacher.weights_source=classifier output_dir=runs/iboot_ucf101

Launchers, resume, the synthetic default set and the evaluation at the end are video_moco's (see
recipes/video_moco.py). The teacher is any image encoder avssl loads: a weights file, or an avssl run
(`model.teacher.weights=runs/moco_frames model.teacher.weights_source=run
model.teacher.weights_prefix=encoder.`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="iboot")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
