"""Held-out localization over training, on the synthetic and the real-media sets, from one command.

    .venv/bin/python tools/compare_training_length.py --out runs/training_length [--steps 200,800] [--every 50]

Trains the demo's SSL-TIE (`avssl/configs/demo_ssl_tie.yaml`, the `avssl demo` recipe) for each length in
`--steps` on each set — `synthetic`: the demo's data (160 VGG-Sound-layout clips, 48 Flickr-layout test
images, `avssl synth`); `realmedia`: `tools/make_realmedia.py` (240 clips, 200 test images, composited real
photographs and recordings) — with `eval.every`, so every run leaves its held-out cIoU / AUC curve
(`RUN/eval_step_N.json`). Prints and writes a markdown table (OUT/table.md, OUT/results.json) with the
curve, the final figures (the maps as the recipe renders them, `model.render`, and the raw cosine maps), the
centre prior, audio↔visual R@1 on 120 held-out clips no run trained on (chance 1/120), and per set whether
the longest run ends not lower than the shortest. Runs live under OUT/runs/ and a rerun reuses finished ones, so an
interrupted study loses nothing. Extra `key=value` arguments go to every run (e.g. to compare a recipe
change: `--tag lr3e-4 optim.lr=0.0003`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tools"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from make_realmedia import BACKGROUNDS_TEST, load_assets, write_train  # noqa: E402
from make_realmedia import build as build_realmedia  # noqa: E402

from avssl.data.datasets import load_index  # noqa: E402
from avssl.data.synthetic.layouts import SynthSpec, write_synthetic  # noqa: E402
from avssl.evaluation.embed import dataset_for_run  # noqa: E402
from avssl.evaluation.localization import baseline_predictions, evaluate_localization  # noqa: E402
from avssl.outputs import write_json  # noqa: E402
from avssl.runner.run import run_recipe  # noqa: E402
from avssl.runner.specs import SYNTHETIC_TRAIN_SIZES  # noqa: E402

CONFIG = ROOT / "avssl" / "configs" / "demo_ssl_tie.yaml"
SETS = ("synthetic", "realmedia")


# (training clips, test images, held-out clips) of each set
SIZES = {"synthetic": (160, 48, 120), "realmedia": (240, 200, 120)}


def data_for(
    name: str, out: Path, seed: int = 0, sizes: tuple[int, int, int] | None = None
) -> tuple[Path, Path]:
    """(training folder, test folder) of a set, written once under OUT/data/NAME, with NAME/vggsound_heldout:
    clips no run trains on (held-out retrieval). `sizes`: (training clips, test images, held-out clips);
    None: the set's own (`SIZES`)."""
    n_train, n_test, n_heldout = sizes or SIZES[name]
    train, test = out / "data" / name / "vggsound", out / "data" / name / "flickr"
    heldout = out / "data" / name / "vggsound_heldout"
    if not (test / "flickr_test.csv").is_file():
        if name == "realmedia":
            build_realmedia(out / "data" / name, n_train, n_test, seed)
        else:
            spec = SynthSpec(n=n_train, seed=seed, size=128, num_classes=8, sizes=SYNTHETIC_TRAIN_SIZES)
            write_synthetic("vggsound", train, spec)
            write_synthetic("flickr", test, SynthSpec(n=n_test, seed=seed + 1000, num_classes=8))
    if not (heldout / "vggsound.csv").is_file():
        if name == "realmedia":
            assets = load_assets()
            write_train(heldout, assets, n_heldout, seed + 2000, backgrounds=BACKGROUNDS_TEST, split="train")
        else:
            spec = SynthSpec(
                n=n_heldout, seed=seed + 2000, size=128, num_classes=8, sizes=SYNTHETIC_TRAIN_SIZES
            )
            write_synthetic("vggsound", heldout, spec)
    return train, test


def final_figures(run: Path, data: tuple[Path, Path]) -> dict:
    """The trained model's held-out figures: cIoU / AUC of its maps as configured and of the raw cosine maps
    (`model.render` off), and audio↔visual retrieval on the 120 held-out clips (every clip, any split)."""
    import torch

    from avssl.evaluation.embed import embed
    from avssl.evaluation.localization_predict import benchmark_dataset, predict_localization
    from avssl.evaluation.retrieval import retrieval_metrics
    from avssl.heads.localization import MapRenderConfig
    from avssl.inference.load import load_run

    task, config = load_run(run)
    task.render = MapRenderConfig()
    test = benchmark_dataset("flickr", data[1], config["data"])
    raw = evaluate_localization("flickr", data[1], predict_localization(task, test), config["eval"]["rule"])
    heldout = dataset_for_run(config, str(data[0].parent / "vggsound_heldout"), "vggsound", None)
    emb = embed(task, heldout, modalities=["video", "audio"])
    retrieval = retrieval_metrics(torch.from_numpy(emb["video"]), torch.from_numpy(emb["audio"]))
    return {"raw": raw, "retrieval": retrieval}


def curve(run: Path) -> dict[int, dict]:
    """{step: localization metrics} of a run's periodic and final evaluations."""
    points = {}
    for path in run.glob("eval_step_*.json"):
        metrics = json.loads(path.read_text())
        points[int(path.stem.rsplit("_", 1)[1])] = metrics.get("localization", metrics)
    return dict(sorted(points.items()))


def train_once(run: Path, data: tuple[Path, Path], steps: int, every: int, extra: list[str]) -> dict:
    """Train (or reuse) one run; returns its final metrics and its curve."""
    done = run / "eval_localization.json"
    if not (done.is_file() and (run / "model" / "model.safetensors").is_file()):
        print(f"== {run.name}: {steps} steps → {run}", flush=True)
        run_recipe(
            [
                "--config",
                str(CONFIG),
                f"output_dir={run}",
                f"data.root={data[0]}",
                f"eval.root={data[1]}",
                f"train.max_steps={steps}",
                f"eval.every={every}",
                "train.progress_bar=false",
                *extra,
            ],
            default_task="ssl_tie",
        )
    figures = run / "figures.json"  # raw maps and retrieval, computed once per finished run
    if not figures.is_file():
        write_json(figures, final_figures(run, data))
    return {"final": json.loads(done.read_text()), "curve": curve(run), **json.loads(figures.read_text())}


def _row(name: str, steps: int, result: dict, centre: dict) -> str:
    points = " · ".join(f"{s}: {m['cIoU']:.1f}" for s, m in result["curve"].items())
    final, raw, ret = result["final"], result["raw"], result["retrieval"]
    return (
        f"| {name} | {steps} | {points} | {final['cIoU']:.1f} / {final['AUC']:.1f} "
        f"| {raw['cIoU']:.1f} / {raw['AUC']:.1f} | {centre['cIoU']:.1f} / {centre['AUC']:.1f} "
        f"| {ret['audio_to_video']['R@1']:.1f} / {ret['video_to_audio']['R@1']:.1f} "
        f"({100 / ret['num_items']:.2f}) |"
    )


def _verdict(name: str, lengths: list[int], results: list[dict]) -> str:
    """Does the longest run end at a held-out cIoU not lower than the shortest run's?"""
    first, last = results[0]["final"]["cIoU"], results[-1]["final"]["cIoU"]
    ok = "yes" if last >= first else "NO"
    return f"- {name}: {lengths[-1]} steps {last:.1f} vs {lengths[0]} steps {first:.1f} cIoU: not lower: {ok}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/training_length")
    parser.add_argument("--steps", default="200,800", help="comma list of training lengths")
    parser.add_argument("--every", type=int, default=50, help="eval.every")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma list of {', '.join(SETS)}")
    parser.add_argument("--tag", default="", help="suffix of the run directories (for recipe variants)")
    parser.add_argument(
        "--sizes",
        help="training clips,test images,held-out clips of every set (default: each set's own, "
        + "; ".join(f"{k} {','.join(map(str, v))}" for k, v in SIZES.items())
        + ")",
    )
    parser.add_argument("overrides", nargs="*", help="key=value for every run")
    args = parser.parse_args(argv)
    out = Path(args.out)
    sizes = tuple(int(n) for n in args.sizes.split(",")) if args.sizes else None
    if sizes is not None and len(sizes) != 3:
        parser.error("--sizes takes three numbers: training clips,test images,held-out clips")
    results, lines, verdicts = {}, [], []
    for name in args.sets.split(","):
        if name not in SETS:
            parser.error(f"unknown set {name!r}; choose from {', '.join(SETS)}")
        data = data_for(name, out, sizes=sizes)
        ids = [item.id for item in load_index("flickr", data[1]).items]
        centre = evaluate_localization("flickr", data[1], baseline_predictions("centre", ids, seed=0), "gt")
        lengths = [int(s) for s in args.steps.split(",")]
        for steps in lengths:
            key = f"{name}_{steps}{'_' + args.tag if args.tag else ''}"
            result = train_once(out / "runs" / key, data, steps, args.every, args.overrides)
            results[key] = {**result, "centre": centre}
            lines.append(_row(name, steps, result, centre))
        if len(lengths) > 1:
            verdicts.append(_verdict(name, lengths, [results[k] for k in list(results)[-len(lengths) :]]))
    header = [
        f"held-out cIoU over training (eval.every={args.every}); overrides: {' '.join(args.overrides) or 'none'}",
        "",
        "| set | steps | cIoU (%) at step | final cIoU / AUC | raw maps | centre prior "
        "| held-out R@1 a→v / v→a (chance) |",
        "|---|--:|---|--:|--:|--:|--:|",
    ]
    table = "\n".join(header + lines + ([""] + verdicts if verdicts else []))
    print("\n" + table)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"table{'_' + args.tag if args.tag else ''}.md").write_text(table + "\n")
    (out / f"results{'_' + args.tag if args.tag else ''}.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
