"""ConST-CL: a holistic clip contrast and a region term in which instance features of one view, attending to
the context of the other view, must become that view's instances (Yuan et al., "Contextualized
Spatio-Temporal Contrastive Learning with Self-Supervision", CVPR 2022).

    accelerate launch recipes/constcl.py --config recipes/configs/constcl.yaml \
        data.root=/data/kinetics400 data.layout=kinetics model.encoder.name=r3d_18 data.size=112 \
        output_dir=runs/constcl_k400

Launchers, resume, the synthetic default set and the evaluation at the end are video_moco's (see
recipes/video_moco.py); the ablations are `model.local_weight=0` and `model.holistic_weight=0`. Its local
features are scored by `avssl eval tracking --run RUN --data OTB_ROOT --out tracking.json`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="constcl")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
