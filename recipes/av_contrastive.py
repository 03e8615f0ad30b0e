"""Cross-modal contrastive pretraining (audio ↔ visual InfoNCE with global negatives).

    accelerate launch recipes/av_contrastive.py --config recipes/configs/av_contrastive.yaml \
        data.root=/data/vggsound data.layout=vggsound output_dir=runs/avc train.max_steps=20000

Runs unchanged as `python recipes/av_contrastive.py …` (one process), under `torchrun --nproc_per_node N`,
`accelerate launch --multi_gpu --num_processes N`, on CPU and CUDA. Rerunning the same command resumes
from the latest checkpoint of `output_dir`. With `data.root` empty it trains on a synthetic VGG-Sound-layout
set it writes into `output_dir/synthetic` (no downloads).

`eval.evaluators=[retrieval,probe]` scores audio↔visual retrieval and kNN / linear probes on `eval.split`
(default test) at the end (RUN/eval_retrieval.json, RUN/eval_probe.json, RUN/eval.json); or afterwards:
`avssl eval retrieval --run RUN --data DIR --layout vggsound --split test --out m.json`.
What to expect: on the synthetic set (8 classes), held-out R@1 well above chance (1/N) in both directions
after a few hundred CPU steps; see the README for the measured numbers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from avssl.runner.args import script_main
from avssl.runner.run import run_recipe


def main(argv: Sequence[str] | None = None) -> dict:
    """Train and evaluate; {"train": [last metrics per run], "eval": {run_dir: metrics}} (`avssl.runner.run`)."""
    return run_recipe(argv, default_task="av_contrastive")


if __name__ == "__main__":
    sys.exit(script_main(main, sys.argv[1:]))
