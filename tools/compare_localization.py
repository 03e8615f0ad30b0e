"""Sound-localization ablation table on synthetic data, from one command.

    .venv/bin/python tools/compare_localization.py --out runs/compare_localization [--steps 200]

Trains SSL-TIE, SSL-TIE without equivariance, SSL-TIE without invariance, LVS and EZ-VSL at the demo's CPU
scale (small encoders, 112 px frames, 14×14 maps; `avssl/configs/demo_ssl_tie.yaml`) on the same synthetic
VGG-Sound-layout videos, evaluates each on the same separately generated Flickr-SoundNet-layout test set
(exact Flickr protocol, 'gt' rule), adds the centre-prior and random baselines, and prints a markdown table
(written to OUT/table.md, OUT/table.png and OUT/results.json). Every run keeps its directory under
OUT/runs/, and a rerun resumes or reuses finished runs, so an interrupted comparison loses nothing.

Pass `--variants ssl_tie,lvs` to run a subset; `--train DIR --test DIR` to use your own VGG-Sound-layout
and Flickr-layout folders instead of the synthetic ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from avssl.data.datasets import load_index  # noqa: E402
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic  # noqa: E402
from avssl.evaluation.localization import baseline_predictions, evaluate_localization  # noqa: E402
from avssl.figures import table_png  # noqa: E402
from avssl.runner.run import run_recipe  # noqa: E402
from avssl.runner.specs import SYNTHETIC_TRAIN_SIZES  # noqa: E402

CONFIG = ROOT / "avssl" / "configs" / "demo_ssl_tie.yaml"
VARIANTS: dict[str, list[str]] = {
    "ssl_tie": [],
    "ssl_tie (no equivariance)": ["model.use_equivariance=false"],
    "ssl_tie (no invariance)": ["model.use_invariance=false"],
    "lvs": ["task=lvs"],  # the demo config's encoders are kept: the comparison is of the methods
    "ezvsl": ["task=ezvsl"],
}
KEYS = {
    "ssl_tie": "ssl_tie",
    "no_equivariance": "ssl_tie (no equivariance)",
    "no_invariance": "ssl_tie (no invariance)",
    "lvs": "lvs",
    "ezvsl": "ezvsl",
}


def _data(out: Path, args) -> tuple[Path, Path]:
    train, test = Path(args.train) if args.train else None, Path(args.test) if args.test else None
    if train is None:
        train = out / "data" / "vggsound"
        if not (train / "synth_gt.json").is_file():
            write_synthetic(
                "vggsound",
                train,
                SynthSpec(
                    n=args.n_train, seed=args.seed, size=128, num_classes=8, sizes=SYNTHETIC_TRAIN_SIZES
                ),
            )
    if test is None:
        test = out / "data" / "flickr"
        if not (test / "synth_gt.json").is_file():
            write_synthetic("flickr", test, SynthSpec(n=args.n_test, seed=args.seed + 1000, num_classes=8))
    return train, test


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/compare_localization")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=160)
    parser.add_argument("--n-test", type=int, default=48)
    parser.add_argument("--train", help="VGG-Sound-layout training folder (default: synthetic)")
    parser.add_argument("--test", help="Flickr-SoundNet-layout test folder (default: synthetic)")
    parser.add_argument("--variants", default=",".join(KEYS), help=f"comma list of {', '.join(KEYS)}")
    args = parser.parse_args(argv)
    out = Path(args.out)
    train, test = _data(out, args)
    rows: dict[str, dict] = {}
    for key in args.variants.split(","):
        if key not in KEYS:
            parser.error(f"unknown variant {key!r}; choose from {', '.join(KEYS)}")
        name = KEYS[key]
        run = out / "runs" / key
        done = run / "eval_localization.json"
        started = time.time()
        if not (done.is_file() and (run / "model" / "model.safetensors").is_file()):
            print(f"== {name}: training {args.steps} steps → {run}", flush=True)
            run_recipe(
                [
                    "--config",
                    str(CONFIG),
                    "model.render.temperature=null",  # the methods as published: their raw cosine maps
                    "model.render.blur_sigma=0",
                    *VARIANTS[name],
                    f"output_dir={run}",
                    f"data.root={train}",
                    f"eval.root={test}",
                    f"train.max_steps={args.steps}",
                    f"train.seed={args.seed}",
                    "train.progress_bar=false",
                ],
                default_task="ssl_tie",
            )
        rows[name] = {**json.loads(done.read_text()), "seconds": round(time.time() - started, 1)}
    ids = [item.id for item in load_index("flickr", test).items]
    for kind, name in (("centre", "centre prior"), ("random", "random")):
        rows[name] = evaluate_localization("flickr", test, baseline_predictions(kind, ids, seed=0), "gt")
    lines = [
        f"Flickr-layout test set: {len(ids)} images ({test}); training: {train}; {args.steps} steps each",
        "",
        "| method | cIoU (%) | AUC (%) | mean cIoU |",
        "|---|--:|--:|--:|",
    ]
    lines += [
        f"| {name} | {m['cIoU']:.1f} | {m['AUC']:.1f} | {m['mean_cIoU']:.3f} |" for name, m in rows.items()
    ]
    table = "\n".join(lines)
    print("\n" + table)
    (out / "table.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    cells = [[n, f"{m['cIoU']:.1f}", f"{m['AUC']:.1f}", f"{m['mean_cIoU']:.3f}"] for n, m in rows.items()]
    table_png(cells, ["method", "cIoU (%)", "AUC (%)", "mean cIoU"], out / "table.png", lines[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
