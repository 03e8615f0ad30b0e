"""Binaural multi-task self-supervision: spatial alignment, temporal sync and temporal gap, trained as one
task, jointly, or incrementally (stage by stage with distillation from the previous stage).

    accelerate launch recipes/binaural_multissl.py --config recipes/configs/binaural_multissl_joint.yaml \
        data.root=/data/FAIR-Play output_dir=runs/binaural_joint

Configs: `binaural_multissl_single.yaml` (one pretext: `model.strategy.pretexts=[sync]` picks it),
`binaural_multissl_joint.yaml` (all three, weighted sum or `model.strategy.uncertainty=true`),
`binaural_multissl_incremental.yaml` (`stages:` list; each stage in OUTPUT/stages/NN_name/, finished stages
are skipped on rerun, the current one resumes). With `data.root` empty it writes a synthetic FAIR-Play-layout
set (sources panned by their x position with ILD/ITD) into OUTPUT/synthetic.

After training it scores every trained pretext task on `eval.split` (accuracy and chance, percent) and, when
the data has class labels (the synthetic set does), kNN / linear probes of the visual and audio features;
written to RUN/eval.json of every run directory it trained (each stage: forgetting is visible there).
What to expect on the synthetic set: see README "Binaural multi-SSL" for the measured table.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="binaural_multissl")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
