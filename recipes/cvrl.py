"""CVRL: two clips of one video at a power-law distance, one augmentation draw per clip, InfoNCE over the
batch (Qian et al., "Spatiotemporal Contrastive Video Representation Learning", CVPR 2021).

    accelerate launch recipes/cvrl.py --config recipes/configs/cvrl.yaml \
        data.root=/data/UCF101 data.layout=ucf101 model.encoder.name=r3d_18 data.size=112 \
        data.views.1.timing.distance=power train.batch_size=64 output_dir=runs/cvrl_ucf101

Launchers, resume, the synthetic default set and the evaluation at the end are video_moco's (see
recipes/video_moco.py); the paper's ablations are two overrides: `data.transforms.0.per_frame=true`
(temporally inconsistent augmentation) and `data.views.1.timing.distance=uniform` (uniform clip distance).
Figures measured on the synthetic set: the README's "Action recognition (video)" section.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="cvrl")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
