"""The image view strategies on one synthetic trap set, same seed, steps and data: one table.

    .venv/bin/python tools/compare_image.py --out runs/compare_image [--steps 100] [--seeds 0,1] \\
        [--methods moco,moco_bg_random,...] [key=value ...]
    .venv/bin/python tools/compare_image.py --suite dense --out runs/compare_dense [--steps 300] \\
        [--methods random,moco,hcl,...] [--detection-steps 150] [--change-steps 200]

`--suite dense` (`tools/dense_suite.py`): pretraining on multi-object scenes, scored by the dense probe,
VOC07 classification, detection and change-detection fine-tuning and scene → object retrieval against the
untrained architecture and plain MoCo v2. The default suite, `backgrounds`:

Every method in `METHODS` is `recipes/image_ssl.py` (recipes/configs/image_ssl.yaml) with its `method=` /
`views=` / mask overrides, trained `--steps` steps at `train.seed` = each of `--seeds` on the same
synthetic ImageFolder trap set (4 shape classes, 256 train / 96 val images at 64 px, 1–2 objects; each
image's striped background is its class's family with probability 0.8, in every split), written once
per seed under OUT/data/. Each model is scored on the val images: kNN / linear top-1 of the frozen
backbone, and the background-robustness suite (`avssl.evaluation.background`: linear top-1 on only_fg,
mixed_same, mixed_rand, mixed_next, and the BG-gap = mixed_same − mixed_rand, linear and kNN) and the shift suite
(`avssl.evaluation.shift`: kNN top-1 drop under appearance corruptions and under context shift — the
object moved on its own background, or put on another class's), always with the annotated masks
(`eval.masks`), whatever mask source the method trains with.

Below the table, each strategy against its base (the row named by `Method.base`): the BG-gap (claim:
smaller) and kNN top-1 (claim: not lower). Runs live under OUT/runs/METHOD_sSEED; a rerun reads a finished
run's evaluation back and resumes an interrupted one. Writes OUT/table.md and OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tools"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from compare_video import _cell, _mean, write_results  # noqa: E402

from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder  # noqa: E402
from avssl.outputs import write_json  # noqa: E402
from avssl.runner.run import run_recipe  # noqa: E402

CONFIG = ROOT / "recipes" / "configs" / "image_ssl.yaml"
ANNOTATED = "data.masks=annotations"


class Method(NamedTuple):
    """Overrides of recipes/configs/image_ssl.yaml, and the row it is compared with (None: a base)."""

    overrides: tuple[str, ...]
    base: str | None = None


METHODS: dict[str, Method] = {
    "moco": Method(("views=none",)),
    "moco_bg_rm": Method(("views=bg_rm", ANNOTATED), "moco"),
    "moco_bg_random": Method(("views=bg_random", ANNOTATED), "moco"),
    "moco_bg_random_saliency": Method(("views=bg_random",), "moco"),  # random-init saliency masks
    "moco_bg_swaps": Method(("views=bg_swaps", ANNOTATED), "moco"),
    "moco_tobias": Method(("views=tobias",), "moco"),  # random-init saliency, 4 × 4 grid cells
    "byol": Method(("method=byol", "views=none")),
    "byol_bg_random": Method(("method=byol", "views=bg_random", ANNOTATED), "byol"),
    "byol_tobias": Method(("method=byol", "views=tobias"), "byol"),
    "swav": Method(("method=swav", "views=none")),
    "swav_bg_random": Method(("method=swav", "views=bg_random", ANNOTATED), "swav"),
    "swav_cross_attention": Method(("method=swav", "views=none", "model.cross_attention=true"), "swav"),
    # InsLoc: crops pasted onto other images, RoIAlign at the boxes; its robust views against plain InsLoc
    "moco_insloc": Method(("views=insloc",), "moco"),
    "moco_insloc_robust": Method(("views=insloc_robust",), "moco_insloc"),
    # Revisiting at equal compute: 2 × 48 px global + 4 × 29 px local crops ≈ the pixels of 2 × 64 px
    "moco_multicrop_nn": Method(("views=multicrop_nn", "data.size=48"), "moco"),
}
COMMON = ("optim.lr=0.002", "train.checkpoint_every=50", "train.progress_bar=false", "data.num_workers=1")
VARIANTS = ("only_fg", "mixed_same", "mixed_rand", "mixed_next")


def write_data(out: Path, seed: int, images: tuple[int, int] = (256, 96)) -> Path:
    """The trap set of `seed` (train / val image counts `images`), once, under OUT/data; its root."""
    root = out / "data" / f"seed{seed}_{images[0]}_{images[1]}"
    if not (root / "annotations" / "val.json").is_file():
        spec = ImageSynthSpec(size=64, objects=(1, 2), background="stripes", background_p=0.8, seed=seed)
        write_image_folder(root, {"train": images[0], "val": images[1]}, spec=spec)
    return root


def train_method(name: str, run: Path, data: Path, steps: int, seed: int, extra=()) -> dict:
    """Train (or read back, or resume) `name` in `run`; the run's evaluation."""
    args = [
        "--config",
        str(CONFIG),
        *COMMON,
        f"data.root={data}",
        f"output_dir={run}",
        f"train.seed={seed}",
        f"train.max_steps={steps}",
        *extra,
        *METHODS[name].overrides,
    ]
    done = run / "compare_result.json"
    if done.is_file() and json.loads(done.read_text())["args"] == args:
        return json.loads(done.read_text())["eval"]
    print(f"== {name} seed {seed}: → {run}", flush=True)
    evaluation = next(iter(run_recipe(args, default_task="image_ssl")["eval"].values()))
    write_json(done, {"args": args, "eval": evaluation})
    return evaluation


def figures(evaluation: dict) -> dict:
    suite = evaluation["backgrounds"]
    drops = evaluation.get("shifts", {}).get("drop", {}).get("knn", {})  # runs from before the shift suite
    return {
        "knn": evaluation["probe"]["knn"]["top1"],
        "linear": evaluation["probe"]["linear"]["top1"],
        **{v: suite["linear"][v] for v in VARIANTS},
        "gap_linear": suite["bg_gap"]["linear"],
        "gap_knn": suite["bg_gap"]["knn"],
        "drop_appearance": drops.get("appearance"),
        "drop_context": drops.get("context"),
    }


def _context_line(f: dict, b: dict) -> str:
    """The kNN drop under context shift against the base's, when both have it (InsLoc's rows: its claim)."""
    if f["drop_context"] is None or b["drop_context"] is None:
        return ""
    smaller = f["drop_context"] < b["drop_context"]
    return (
        f"; kNN context-shift drop {f['drop_context']:.1f} vs {b['drop_context']:.1f}: "
        f"{'smaller' if smaller else 'not smaller'}"
    )


def claims(means: dict[str, dict]) -> list[str]:
    """Each strategy against its base: BG-gap smaller (both probes), kNN not lower."""
    lines = []
    for name, f in means.items():
        base = METHODS[name].base
        if base not in means:
            continue
        b = means[base]
        smaller = f["gap_linear"] < b["gap_linear"] and f["gap_knn"] < b["gap_knn"]
        kept = f["knn"] >= b["knn"]
        lines.append(
            f"- {name} vs {base}: BG-gap linear {f['gap_linear']:.1f} vs {b['gap_linear']:.1f}, kNN "
            f"{f['gap_knn']:.1f} vs {b['gap_knn']:.1f} (claim: smaller): {'holds' if smaller else 'NOT reproduced'}; "
            f"kNN top-1 {f['knn']:.1f} vs {b['knn']:.1f} (claim: not lower): {'holds' if kept else 'NOT reproduced'}"
            + _context_line(f, b)
        )
    return lines


def dense_main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """`--suite dense`: the table of `tools/dense_suite.py`'s protocols, one row per method."""
    from dense_suite import (
        COLUMNS,
        DENSE_METHODS,
        dense_claims,
        evaluate_dense,
        train_dense,
        trained_as,
        write_dense_data,
    )

    names = (args.methods or ",".join(DENSE_METHODS)).split(",")
    unknown = [n for n in names if n not in DENSE_METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(DENSE_METHODS)}")
    seeds, out = [int(s) for s in args.seeds.split(",")], Path(args.out)
    steps = args.steps or 300
    settings = {"detection_steps": args.detection_steps, "change_steps": args.change_steps}
    per_seed: dict[str, list[dict]] = {name: [] for name in names}
    for seed in seeds:
        trees = write_dense_data(out, seed, tuple(int(n) for n in args.images.split(",")))
        for name in names:
            trained = trained_as(name)
            run = train_dense(
                trained, out / "runs" / f"{trained}_s{seed}", trees["scenes"], steps, seed, args.overrides
            )
            per_seed[name].append(evaluate_dense(name, run, trees, seed, settings))
    means = {n: {k: _mean([f[k] for f in fs]) for k in COLUMNS} for n, fs in per_seed.items()}
    header = [
        f"{steps} pretraining steps on 64 px scenes, seeds {args.seeds}; detection {args.detection_steps} and change "
        f"detection {args.change_steps} fine-tuning steps; percent; overrides: {' '.join(args.overrides) or 'none'}",
        "",
        "| method | " + " | ".join(COLUMNS.values()) + " |",
        "|---|" + "--:|" * len(COLUMNS),
    ]
    rows = [
        f"| {n} | " + " | ".join(_cell([f[c] for f in per_seed[n]], 1) for c in COLUMNS) + " |" for n in names
    ]
    return write_results(out, args, header + rows, dense_claims(means), per_seed, means, {})


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=("backgrounds", "dense"), default="backgrounds")
    parser.add_argument("--out", default="runs/compare_image")
    parser.add_argument("--steps", type=int, help="pretraining steps (default: 100; dense suite: 300)")
    parser.add_argument(
        "--methods",
        help=f"comma list (default: all) of {', '.join(METHODS)}; dense suite: "
        "random, moco, hcl, hcl_saliency, swav, swav_cross, random_os8, moco_os8, cyborgs",
    )
    parser.add_argument("--detection-steps", type=int, default=150, help="dense suite: Faster R-CNN steps")
    parser.add_argument("--change-steps", type=int, default=200, help="dense suite: change-detection steps")
    parser.add_argument("--seeds", default="0", help="comma list of train.seed (each: its own data too)")
    parser.add_argument("--images", default="256,96", help="train,val image counts of the synthetic set")
    parser.add_argument("overrides", nargs="*", help="key=value for every run")
    args = parser.parse_args(argv)
    if args.suite == "dense":
        return dense_main(args, parser)
    args.steps = args.steps or 100
    names = (args.methods or ",".join(METHODS)).split(",")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    results: dict[str, dict] = {name: {} for name in names}
    for seed in seeds:
        data = write_data(out, seed, tuple(int(n) for n in args.images.split(",")))
        for name in names:
            run = out / "runs" / f"{name}_s{seed}"
            results[name][seed] = train_method(name, run, data, args.steps, seed, args.overrides)
    per_seed = {n: [figures(results[n][s]) for s in seeds] for n in names}
    means = {n: {k: _mean([f[k] for f in fs]) for k in fs[0]} for n, fs in per_seed.items()}
    columns = ("knn", "linear", *VARIANTS, "gap_linear", "gap_knn", "drop_appearance", "drop_context")
    titles = (
        "kNN",
        "linear",
        "only_fg",
        "mixed_same",
        "mixed_rand",
        "mixed_next",
        "BG-gap linear",
        "BG-gap kNN",
        "appearance drop kNN",
        "context drop kNN",
    )
    header = [
        f"{args.steps} steps, seeds {args.seeds}, {args.images.split(',')[1]} val images (4 classes: chance 25 %); "
        "top-1 in percent, "
        f"background variants with the linear probe; overrides: {' '.join(args.overrides) or 'none'}",
        "",
        "| method | " + " | ".join(titles) + " |",
        "|---|" + "--:|" * len(titles),
    ]
    rows = [
        f"| {n} | " + " | ".join(_cell([f[c] for f in per_seed[n]], 1) for c in columns) + " |" for n in names
    ]
    return write_results(out, args, header + rows, claims(means), per_seed, means, results)


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
